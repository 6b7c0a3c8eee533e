#include "train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "engine/error.h"

namespace cortex::train {

CosineSchedule::CosineSchedule(const CosineScheduleConfig& config) : config_(config) {
  CORTEX_CHECK(config.peak_lr >= 0.0 && std::isfinite(config.peak_lr), "CosineSchedule",
               "peak_lr must be a finite rate >= 0, got ", config.peak_lr);
  CORTEX_CHECK(config.min_lr >= 0.0 && config.min_lr <= config.peak_lr, "CosineSchedule",
               "min_lr must lie in [0, peak_lr = ", config.peak_lr, "], got ", config.min_lr);
  CORTEX_CHECK(config.total_steps >= 1, "CosineSchedule", "total_steps must be >= 1, got ", config.total_steps);
  CORTEX_CHECK(config.warmup_steps >= 0 && config.warmup_steps <= config.total_steps, "CosineSchedule",
               "warmup_steps must lie in [0, total_steps = ", config.total_steps, "], got ", config.warmup_steps);
}

double CosineSchedule::lr(int64_t step) const {
  const auto& c = config_;
  if (step < 0) step = 0;
  // The first update already uses a non-zero rate: warmup ends on the peak at step warmup-1.
  if (step < c.warmup_steps) return c.peak_lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  const int64_t decay_steps = c.total_steps - c.warmup_steps;
  if (decay_steps <= 0) return c.peak_lr;
  const double progress = std::min(1.0, static_cast<double>(step - c.warmup_steps) / static_cast<double>(decay_steps));
  return c.min_lr + 0.5 * (c.peak_lr - c.min_lr) * (1.0 + std::cos(std::numbers::pi * progress));
}

}  // namespace cortex::train
