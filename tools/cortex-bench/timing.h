#pragma once
#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

namespace cortex::bench {

// Median wall time of fn in seconds, after one warm-up call, over at least 3 runs and at
// least min_seconds in total.
inline double median_seconds(const std::function<void()>& fn, double min_seconds) {
  using clock = std::chrono::steady_clock;
  fn();
  std::vector<double> times;
  double total = 0;
  while (times.size() < 3 || (total < min_seconds && times.size() < 1000)) {
    const auto t0 = clock::now();
    fn();
    const double s = std::chrono::duration<double>(clock::now() - t0).count();
    times.push_back(s);
    total += s;
  }
  std::nth_element(times.begin(), times.begin() + times.size() / 2, times.end());
  return times[times.size() / 2];
}

}  // namespace cortex::bench
