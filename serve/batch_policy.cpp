#include "serve/batch_policy.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace cortex::serve {

BatchDecision decide_batch(const BatchPolicy& policy, Clock::time_point now, Clock::time_point opened,
                           Clock::time_point earliest_deadline, size_t queued, Clock::duration estimate,
                           Clock::time_point next_arrival) {
  if (!policy.batching || policy.max_batch <= 1 || queued >= static_cast<size_t>(policy.max_batch)) return {true, now};
  const Clock::time_point last_start = earliest_deadline - estimate;  // later and the earliest job misses
  const Clock::time_point wait_until = std::min(last_start, opened + policy.max_wait);
  if (wait_until <= now || next_arrival > wait_until) return {true, now};
  return {false, wait_until};
}

void ArrivalEstimator::arrived(Clock::time_point t) {
  if (seen_ > 0) {
    const double gap = std::chrono::duration<double>(t - last_).count();
    mean_gap_s_ = seen_ == 1 ? gap : 0.9 * mean_gap_s_ + 0.1 * gap;
  }
  last_ = t;
  seen_ = std::min(seen_ + 1, 2);
}

Clock::time_point ArrivalEstimator::next_expected() const {
  if (seen_ < 2) return Clock::time_point::max();
  return last_ + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(mean_gap_s_));
}

int ComputeEstimator::bucket(int batch) {
  const unsigned b = static_cast<unsigned>(std::max(batch, 1));
  return std::min(kBuckets - 1, static_cast<int>(std::bit_width(b)) - 1);
}

void ComputeEstimator::observe(int batch, double seconds) {
  const int k = bucket(batch);
  // Normalised to the bucket's lower edge so sizes within a bucket share one mean.
  const double per_bucket = seconds * static_cast<double>(1 << k) / static_cast<double>(std::max(batch, 1));
  if (!seen_[k]) {
    mean_s_[k] = per_bucket;
    seen_[k] = true;
  } else {
    mean_s_[k] = 0.8 * mean_s_[k] + 0.2 * per_bucket;
  }
}

Clock::duration ComputeEstimator::estimate(int batch) const {
  const int k = bucket(batch);
  int nearest = -1;
  for (int d = 0; d < kBuckets && nearest < 0; ++d) {
    if (k - d >= 0 && seen_[k - d]) nearest = k - d;
    else if (k + d < kBuckets && seen_[k + d]) nearest = k + d;
  }
  if (nearest < 0) return Clock::duration::zero();
  const double seconds = mean_s_[nearest] * static_cast<double>(std::max(batch, 1)) / static_cast<double>(1 << nearest);
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
}

}  // namespace cortex::serve
