#include "serve/reference_decoder.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "ops/linalg.h"

namespace cortex::serve {

ReferenceDecoder::ReferenceDecoder(const ReferenceConfig& config) : config_(config) {
  CORTEX_CHECK(config.num_units > 0 && config.output_dim > 0, "ReferenceDecoder",
               "num_units and output_dim must be positive, got ", config.num_units, " and ", config.output_dim);
  CORTEX_CHECK(config.bin_ms > 0 && config.window_ms >= config.bin_ms, "ReferenceDecoder",
               "expected 0 < bin_ms <= window_ms, got bin_ms=", config.bin_ms, " window_ms=", config.window_ms);
  num_bins_ = static_cast<int64_t>(std::ceil(config.window_ms / config.bin_ms));
  Generator gen(config.seed);
  const int64_t features = config.num_units * num_bins_;
  // Scaled so a window of typical firing gives velocities of order one.
  weight_ = normal({config.output_dim, features}, 0.0, 1.0 / std::sqrt(static_cast<double>(features)), DType::f32,
                   Device::cpu(), &gen);
  bias_ = normal({config.output_dim}, 0.0, 0.1, DType::f32, Device::cpu(), &gen);

  info_.name = "reference";
  info_.version = "init-" + std::to_string(config.seed);
  info_.config = {{"kind", "reference"},       {"num_units", config.num_units}, {"output_dim", config.output_dim},
                  {"window_ms", config.window_ms}, {"bin_ms", config.bin_ms},     {"stride_ms", config.stride_ms},
                  {"seed", config.seed}};
  info_.parameters = weight_.numel() + bias_.numel();
  info_.dtype = "f32";
  info_.device = Device::cpu();
  info_.num_units = config.num_units;
  info_.output_dim = config.output_dim;
  info_.window_ms = config.window_ms;
  info_.stride_ms = config.stride_ms;
}

int64_t ReferenceDecoder::parameter_bytes() const {
  return static_cast<int64_t>(weight_.nbytes() + bias_.nbytes());
}

void ReferenceDecoder::bin_event(float* features, int32_t unit, double time_ms, float count, double end_ms) const {
  const double offset = time_ms - (end_ms - config_.window_ms);
  if (offset < 0 || time_ms >= end_ms || unit < 0 || unit >= config_.num_units) return;
  const int64_t bin = std::min<int64_t>(static_cast<int64_t>(offset / config_.bin_ms), num_bins_ - 1);
  features[unit * num_bins_ + bin] += count;
}

std::vector<std::vector<float>> ReferenceDecoder::readout(const Tensor& features) const {
  NoGradGuard no_grad;
  std::unique_lock<std::mutex> lock(readout_mu_);
  const Tensor out = linear(features, weight_, bias_);
  lock.unlock();
  const std::vector<float> flat = out.to_vector<float>();
  const int64_t batch = features.size(0);
  std::vector<std::vector<float>> result(batch);
  for (int64_t b = 0; b < batch; ++b)
    result[b].assign(flat.begin() + b * config_.output_dim, flat.begin() + (b + 1) * config_.output_dim);
  return result;
}

std::vector<std::vector<float>> ReferenceDecoder::decode(const std::vector<const Window*>& windows) {
  if (windows.empty()) return {};
  const int64_t width = config_.num_units * num_bins_;
  Tensor features = zeros({static_cast<int64_t>(windows.size()), width});
  float* f = features.data<float>();
  for (size_t b = 0; b < windows.size(); ++b) {
    const Window& w = *windows[b];
    for (size_t i = 0; i < w.size(); ++i)
      bin_event(f + b * width, w.units[i], w.times_ms[i], static_cast<float>(w.counts[i]), w.end_ms);
  }
  return readout(features);
}

Tensor ReferenceDecoder::encode_events(const Window& events) {
  const int64_t n = static_cast<int64_t>(events.size());
  std::vector<float> rows(static_cast<size_t>(n) * 2);
  for (int64_t i = 0; i < n; ++i) {
    rows[2 * i] = static_cast<float>(events.units[i]);
    rows[2 * i + 1] = static_cast<float>(events.counts[i]);
  }
  return from_vector(rows, {n, 2});
}

std::vector<std::vector<float>> ReferenceDecoder::decode_cached(const std::vector<const CachedWindow*>& windows) {
  if (windows.empty()) return {};
  const int64_t width = config_.num_units * num_bins_;
  Tensor features = zeros({static_cast<int64_t>(windows.size()), width});
  float* f = features.data<float>();
  for (size_t b = 0; b < windows.size(); ++b) {
    const CachedWindow& w = *windows[b];
    if (!w.rows.defined() || w.rows.numel() == 0) continue;
    CORTEX_CHECK(w.rows.dim() == 2 && w.rows.size(1) == 2 && w.rows.size(0) == static_cast<int64_t>(w.times_ms.size()),
                 "ReferenceDecoder::decode_cached", "expected rows [", w.times_ms.size(), ", 2], got ",
                 w.rows.describe());
    const std::vector<float> rows = w.rows.to_vector<float>();
    for (int64_t i = 0; i < w.rows.size(0); ++i)
      bin_event(f + b * width, static_cast<int32_t>(rows[2 * i]), w.times_ms[i], rows[2 * i + 1], w.end_ms);
  }
  return readout(features);
}

}  // namespace cortex::serve
