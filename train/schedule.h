#pragma once
// Learning-rate schedule: linear warmup to the peak, then a half cosine down to a floor.
#include <cstdint>

namespace cortex::train {

struct CosineScheduleConfig {
  double peak_lr = 1e-3;
  double min_lr = 0.0;         // the floor the cosine ends on
  int64_t warmup_steps = 0;    // steps 0 .. warmup-1 ramp up linearly
  int64_t total_steps = 1;     // the cosine reaches min_lr at this step
};

class CosineSchedule {
 public:
  // Throws a cortex::Error for a negative rate, min_lr > peak_lr, or warmup > total.
  explicit CosineSchedule(const CosineScheduleConfig& config);
  // Rate for the update with 0-based index `step`; steps past the end stay at min_lr.
  double lr(int64_t step) const;
  const CosineScheduleConfig& config() const { return config_; }

 private:
  CosineScheduleConfig config_;
};

}  // namespace cortex::train
