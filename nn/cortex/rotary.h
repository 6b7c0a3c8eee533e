#pragma once
// Rotary embedding of absolute time (RoFormer, as POYO uses it for spike times): the first
// half of each head's channels is rotated in pairs (i, i + R/2) by angles omega_k * t.
// A key rotated by its own time and a query rotated by its own time give scores that
// depend on the time difference only, and a key never depends on which window holds it.
#include <vector>

#include "engine/tensor.h"

namespace cortex::nn {

// cos and sin of every time's angles, [N, 1, R/2] each (broadcast over heads).
struct RotaryAngles {
  Tensor cos;
  Tensor sin;
  int64_t size() const { return cos.size(0); }
  RotaryAngles narrow(int64_t start, int64_t length) const;
};

class TimeRotary {
 public:
  // Frequencies with periods spaced geometrically from min_period_ms to max_period_ms.
  TimeRotary(int64_t head_dim, double min_period_ms, double max_period_ms);

  int64_t head_dim() const { return head_dim_; }
  int64_t rotated_dims() const { return 2 * static_cast<int64_t>(omega_.size()); }
  // Angles computed in double on the host (exact per time, whatever else is in the list),
  // then rounded to `dtype` on `device`.
  RotaryAngles angles(const std::vector<double>& times_ms, DType dtype, Device device) const;
  // The frequencies (radians per ms) as an f64 [R/4] tensor, for rotary_angles on a device.
  Tensor frequencies(Device device) const;

 private:
  int64_t head_dim_;
  std::vector<double> omega_;  // radians per ms
};

// The same angles as TimeRotary::angles, from times already on the device (f64 [N]) and its
// frequencies(): computed there in double, so no host work or copy (CUDA graph captures).
RotaryAngles rotary_angles(const Tensor& times_ms, const Tensor& frequencies, DType dtype);

// x [N, H, Dh] rotated by +angle, or by -angle when inverse (undoing a rotation).
Tensor rotate(const Tensor& x, const RotaryAngles& angles, bool inverse = false);

}  // namespace cortex::nn
