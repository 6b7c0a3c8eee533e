#pragma once
// The Cortex model behind serve::Decoder. A window [end - window_ms, end) is one sample whose
// behaviour query sits at the centre of its last bin (as in causal training). Streaming uses
// nn::CortexStreamer: an event's cached row is its key and value, [2 * dim] floats, rotated
// by the event's absolute time, so rows stay valid while the window slides.
//
// Thread-safe: graph replays of concurrent batches run in parallel (each on its own bucket
// instance and the calling thread's stream); everything that runs the model eagerly (CPU,
// eager CUDA fallback, encode_events, graph captures) holds one mutex, as the eager forward
// was never written for concurrent callers.
#include <memory>
#include <mutex>
#include <vector>

#include "nn/cortex/cortex.h"
#include "nn/cortex/streaming.h"
#include "serve/decoder.h"

namespace cortex::serve {

struct CortexServingOptions {
  std::string version;            // checkpoint digest or "init-<seed>"
  nlohmann::json config;          // what /v1/model reports
  std::vector<double> out_mean;   // velocity = model output * std + mean (empty: identity)
  std::vector<double> out_std;
  double query_bin_ms = 0.0;      // the behaviour query sits half a bin before the end (0: config bin_ms)
  double stride_ms = 50.0;
  bool cuda_graphs = true;  // replay CUDA graphs on a GPU (false: every batch eagerly)
  int64_t max_batch = 32;   // the largest batch the server forms (the largest graph bucket)
  // Batches decoded at once (the server's workers): each graph bucket gets up to this many
  // instances, so concurrent batches of one shape never share staging buffers or a graph.
  int64_t concurrent_batches = 1;
};

#ifdef CORTEX_WITH_CUDA
class CortexGraphs;
#endif

class CortexDecoder : public Decoder {
 public:
  CortexDecoder(std::unique_ptr<nn::Cortex> model, const CortexServingOptions& options);
  ~CortexDecoder() override;

  const ModelInfo& info() const override { return info_; }
  std::vector<std::vector<float>> decode(const std::vector<const Window*>& windows) override;
  int64_t row_width() const override { return 2 * model_->config().dim; }
  Tensor encode_events(const Window& events) override;
  std::vector<std::vector<float>> decode_cached(const std::vector<const CachedWindow*>& windows) override;
  int64_t parameter_bytes() const override;
  void warm_up(int64_t events_per_window) override;

  const nn::Cortex& model() const { return *model_; }
  // Whether batches may replay CUDA graphs, and how many graphs have been captured so far.
  bool uses_graphs() const;
  int64_t graph_captures() const;

 private:
  nn::SpikeEvents to_events(const Window& w) const;
  double query_time(double end_ms) const { return end_ms - 0.5 * query_bin_ms_; }
  // Velocity per window from model outputs, row-major [windows, outputs].
  std::vector<std::vector<float>> unscale(const std::vector<float>& flat) const;
  std::vector<std::vector<float>> unscale(const Tensor& out) const;

  std::unique_ptr<nn::Cortex> model_;
  std::unique_ptr<nn::CortexStreamer> streamer_;
  CortexServingOptions options_;
  ModelInfo info_;
  double query_bin_ms_;
  std::mutex eager_mu_;  // one eager model call (or graph capture) at a time
#ifdef CORTEX_WITH_CUDA
  std::unique_ptr<CortexGraphs> graphs_;
#endif
};

}  // namespace cortex::serve
