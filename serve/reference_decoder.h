#pragma once
// The classic BCI baseline: spike counts binned per unit over the window, read out by one
// linear map (a Wiener filter). Deterministic weights from a seed; used for tests, as the
// naive baseline, and wherever a model without a checkpoint is good enough.
#include <mutex>

#include "serve/decoder.h"

namespace cortex::serve {

struct ReferenceConfig {
  int64_t num_units = 96;
  int64_t output_dim = 2;
  double window_ms = 600.0;
  double bin_ms = 50.0;
  double stride_ms = 50.0;
  uint64_t seed = 7;
};

class ReferenceDecoder : public Decoder {
 public:
  explicit ReferenceDecoder(const ReferenceConfig& config);

  const ModelInfo& info() const override { return info_; }
  std::vector<std::vector<float>> decode(const std::vector<const Window*>& windows) override;
  // A row is (unit, count); the event's time picks its bin at decode time, relative to the
  // window end, so the row itself never depends on the window.
  int64_t row_width() const override { return 2; }
  Tensor encode_events(const Window& events) override;
  std::vector<std::vector<float>> decode_cached(const std::vector<const CachedWindow*>& windows) override;
  int64_t parameter_bytes() const override;

  int64_t num_bins() const { return num_bins_; }

 private:
  // Adds one event's count to its (unit, bin) feature; events outside the window are ignored.
  void bin_event(float* features, int32_t unit, double time_ms, float count, double end_ms) const;
  std::vector<std::vector<float>> readout(const Tensor& features) const;

  ReferenceConfig config_;
  ModelInfo info_;
  int64_t num_bins_;
  Tensor weight_;  // [output_dim, num_units * num_bins]
  Tensor bias_;    // [output_dim]
  // Concurrent workers' readouts take turns: the CPU GEMM backend is not assumed re-entrant.
  mutable std::mutex readout_mu_;
};

}  // namespace cortex::serve
