#include "workload.h"

#include <algorithm>

namespace loadgen {

Workload::Workload(const WorkloadShape& shape, uint64_t seed) : shape_(shape), rng_(seed) {}

cortex::serve::Window Workload::events_between(double lo, double hi) {
  const double mean = shape_.events_per_window * (hi - lo) / shape_.window_ms;
  const int64_t n = std::poisson_distribution<int64_t>(mean)(rng_);
  std::uniform_real_distribution<double> time(lo, hi);
  std::uniform_int_distribution<int32_t> unit(0, static_cast<int32_t>(shape_.units - 1));
  cortex::serve::Window w;
  w.end_ms = hi;
  w.times_ms.resize(static_cast<size_t>(n));
  for (auto& t : w.times_ms) t = time(rng_);
  std::sort(w.times_ms.begin(), w.times_ms.end());
  w.units.resize(static_cast<size_t>(n));
  for (auto& u : w.units) u = unit(rng_);
  w.counts.assign(static_cast<size_t>(n), 1);
  return w;
}

cortex::serve::Window Workload::window() {
  cortex::serve::Window w = events_between(0.0, shape_.window_ms);
  if (w.empty()) w = events_between(0.0, shape_.window_ms);  // the server refuses empty windows
  if (w.empty()) {
    w.units = {0};
    w.times_ms = {0.0};
    w.counts = {1};
  }
  return w;
}

cortex::serve::Window Workload::stride(double end_ms) { return events_between(end_ms - shape_.stride_ms, end_ms); }

}  // namespace loadgen
