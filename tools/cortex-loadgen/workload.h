#pragma once
// Synthetic spike traffic shaped like the model expects: Poisson spikes of `units` neurons,
// windows for /v1/decode and consecutive strides for /v1/stream.
#include <cstdint>
#include <random>

#include "serve/window.h"

namespace loadgen {

struct WorkloadShape {
  int64_t units = 96;         // ids drawn from [0, units)
  double window_ms = 600.0;
  double stride_ms = 50.0;
  double events_per_window = 256.0;  // mean; Poisson
};

class Workload {
 public:
  Workload(const WorkloadShape& shape, uint64_t seed);
  // A window [0, window_ms) of events, end_ms = window_ms.
  cortex::serve::Window window();
  // The events of the stride (end - stride_ms, end].
  cortex::serve::Window stride(double end_ms);

 private:
  cortex::serve::Window events_between(double lo, double hi);
  WorkloadShape shape_;
  std::mt19937_64 rng_;
};

}  // namespace loadgen
