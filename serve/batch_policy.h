#pragma once
// When to close a batch. The worker runs the queued jobs at once when batching is off, when
// a full batch is waiting, when the earliest deadline has no slack left for the estimated
// compute time, or when the next request is not expected before the wait would end (at low
// load waiting only adds latency); otherwise it waits for more jobs until the slack (or
// max_wait, counted from the oldest queued job's arrival) runs out.
#include <array>
#include <chrono>

#include "serve/job.h"

namespace cortex::serve {

struct BatchPolicy {
  int max_batch = 32;
  bool batching = true;
  Clock::duration max_wait = std::chrono::milliseconds(2);
};

struct BatchDecision {
  bool run_now = true;
  Clock::time_point wait_until{};  // when !run_now: decide again then, or on a new arrival
};

// `opened`: when the oldest queued job arrived (max_wait bounds how long any job waits for
// company, including the time it queued behind the previous batch); `estimate`: compute time of a batch
// of min(queued + 1, max_batch) jobs; `next_arrival`: when the next request is expected.
BatchDecision decide_batch(const BatchPolicy& policy, Clock::time_point now, Clock::time_point opened,
                           Clock::time_point earliest_deadline, size_t queued, Clock::duration estimate,
                           Clock::time_point next_arrival);

// Mean gap between arrivals (exponentially weighted) and so when the next one is due.
class ArrivalEstimator {
 public:
  void arrived(Clock::time_point t);
  // Far in the future until two arrivals have been seen.
  Clock::time_point next_expected() const;

 private:
  Clock::time_point last_{};
  double mean_gap_s_ = 0.0;
  int seen_ = 0;
};

// Running mean of measured batch compute time per power-of-two batch size.
class ComputeEstimator {
 public:
  void observe(int batch, double seconds);
  // The estimate for `batch`, from the nearest measured size scaled linearly; 0 before any.
  Clock::duration estimate(int batch) const;

 private:
  static constexpr int kBuckets = 16;
  static int bucket(int batch);
  std::array<double, kBuckets> mean_s_{};
  std::array<bool, kBuckets> seen_{};
};

}  // namespace cortex::serve
