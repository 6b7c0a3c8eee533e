#include "nn/cortex/rotary.h"

#include <cmath>

#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/nn_ops.h"
#include "ops/shape_ops.h"
#include "ops/views.h"

namespace cortex::nn {

RotaryAngles RotaryAngles::narrow(int64_t start, int64_t length) const {
  return {cortex::narrow(cos, 0, start, length), cortex::narrow(sin, 0, start, length)};
}

TimeRotary::TimeRotary(int64_t head_dim, double min_period_ms, double max_period_ms) : head_dim_(head_dim) {
  CORTEX_CHECK(head_dim > 0 && head_dim % 4 == 0, "TimeRotary", "head dim must be a positive multiple of 4, got ",
               head_dim);
  CORTEX_CHECK(min_period_ms > 0 && max_period_ms >= min_period_ms, "TimeRotary",
               "periods must satisfy 0 < min <= max, got ", min_period_ms, " and ", max_period_ms);
  const int64_t freqs = head_dim / 4;  // half the channels rotate, two per frequency
  for (int64_t k = 0; k < freqs; ++k) {
    const double frac = freqs == 1 ? 0.0 : static_cast<double>(k) / static_cast<double>(freqs - 1);
    const double period = min_period_ms * std::pow(max_period_ms / min_period_ms, frac);
    omega_.push_back(2.0 * M_PI / period);
  }
}

RotaryAngles TimeRotary::angles(const std::vector<double>& times_ms, DType dtype, Device device) const {
  const int64_t n = static_cast<int64_t>(times_ms.size()), f = static_cast<int64_t>(omega_.size());
  std::vector<double> c(static_cast<size_t>(n * f)), s(c.size());
  for (int64_t i = 0; i < n; ++i) {
    CORTEX_CHECK(std::isfinite(times_ms[static_cast<size_t>(i)]), "TimeRotary", "time ", i, " is not finite");
    for (int64_t k = 0; k < f; ++k) {
      const double theta = omega_[static_cast<size_t>(k)] * times_ms[static_cast<size_t>(i)];
      c[static_cast<size_t>(i * f + k)] = std::cos(theta);
      s[static_cast<size_t>(i * f + k)] = std::sin(theta);
    }
  }
  return {from_doubles(c, {n, 1, f}, dtype, device), from_doubles(s, {n, 1, f}, dtype, device)};
}

Tensor TimeRotary::frequencies(Device device) const {
  return from_vector(omega_, {static_cast<int64_t>(omega_.size())}, device);
}

RotaryAngles rotary_angles(const Tensor& times_ms, const Tensor& frequencies, DType dtype) {
  const auto [c, s] = outer_cos_sin(times_ms, frequencies, dtype);
  return {unsqueeze(c, 1), unsqueeze(s, 1)};
}

Tensor rotate(const Tensor& x, const RotaryAngles& angles, bool inverse) {
  CORTEX_CHECK(x.defined() && x.dim() == 3, "rotate", "expected x [N, heads, head_dim], got ", describe(x));
  const int64_t half = angles.cos.size(-1), dh = x.size(-1);
  CORTEX_CHECK(angles.size() == x.size(0) && 4 * half == dh, "rotate", "angles ", angles.cos.describe(),
               " do not fit x ", x.describe());
  // One fused kernel (ops/rotary.cpp) instead of narrow + mul + add + cat on strided views.
  return rotary(x, angles.cos, angles.sin, inverse);
}

}  // namespace cortex::nn
