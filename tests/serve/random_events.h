#pragma once
// Random spike windows for the server tests: n events in [end_ms - span_ms, end_ms), sorted
// by time, units uniform below `units`, counts cycling 1..max_count.
#include <algorithm>
#include <random>

#include "serve/window.h"

namespace cortex::serve::test {

inline Window random_events(std::mt19937_64& rng, double end_ms, double span_ms, int64_t units, int n,
                            int max_count) {
  std::uniform_real_distribution<double> t(end_ms - span_ms, end_ms);
  std::uniform_int_distribution<int32_t> u(0, static_cast<int32_t>(units - 1));
  Window w;
  w.end_ms = end_ms;
  for (int i = 0; i < n; ++i) w.times_ms.push_back(t(rng));
  std::sort(w.times_ms.begin(), w.times_ms.end());
  for (int i = 0; i < n; ++i) {
    w.units.push_back(u(rng));
    w.counts.push_back(1 + i % max_count);
  }
  return w;
}

}  // namespace cortex::serve::test
