#include "serve/cortex_decoder.h"

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "ops/views.h"
#ifdef CORTEX_WITH_CUDA
#include "serve/cortex_graphs.h"
#endif

namespace cortex::serve {

CortexDecoder::CortexDecoder(std::unique_ptr<nn::Cortex> model, const CortexServingOptions& options)
    : model_(std::move(model)), options_(options) {
  model_->eval();
  streamer_ = std::make_unique<nn::CortexStreamer>(*model_);
  const nn::CortexConfig& c = model_->config();
  query_bin_ms_ = options.query_bin_ms > 0 ? options.query_bin_ms : c.bin_ms;
  CORTEX_CHECK(options.out_mean.size() == options.out_std.size() &&
                   (options.out_mean.empty() || static_cast<int64_t>(options.out_mean.size()) == c.outputs),
               "CortexDecoder", "output scaling has ", options.out_mean.size(), " means and ", options.out_std.size(),
               " stds for ", c.outputs, " outputs");
  info_.name = c.name;
  info_.version = options.version;
  info_.config = options.config;
  info_.parameters = model_->num_parameters();
  info_.dtype = dtype_name(model_->dtype());
  info_.device = model_->device();
  info_.num_units = c.unit_vocab;
  info_.output_dim = c.outputs;
  info_.window_ms = c.window_ms;
  info_.stride_ms = options.stride_ms;
#ifdef CORTEX_WITH_CUDA
  if (options.cuda_graphs && model_->device().is_cuda())
    graphs_ = std::make_unique<CortexGraphs>(*model_, options.max_batch, options.concurrent_batches, eager_mu_);
#endif
}

CortexDecoder::~CortexDecoder() = default;

bool CortexDecoder::uses_graphs() const {
#ifdef CORTEX_WITH_CUDA
  return graphs_ != nullptr;
#else
  return false;
#endif
}

int64_t CortexDecoder::graph_captures() const {
#ifdef CORTEX_WITH_CUDA
  if (graphs_) return graphs_->captures();
#endif
  return 0;
}

void CortexDecoder::warm_up(int64_t events_per_window) {
#ifdef CORTEX_WITH_CUDA
  if (graphs_) graphs_->warm_up(events_per_window);
#endif
}

int64_t CortexDecoder::parameter_bytes() const {
  int64_t bytes = 0;
  for (const Tensor& p : model_->parameters()) bytes += static_cast<int64_t>(p.nbytes());
  return bytes;
}

nn::SpikeEvents CortexDecoder::to_events(const Window& w) const {
  nn::SpikeEvents ev;
  ev.unit = w.units;
  ev.count = w.counts;
  ev.time_ms = w.times_ms;
  return ev;
}

std::vector<std::vector<float>> CortexDecoder::unscale(const std::vector<float>& flat) const {
  const int64_t outputs = model_->config().outputs;
  std::vector<std::vector<float>> result(flat.size() / static_cast<size_t>(outputs));
  for (size_t b = 0; b < result.size(); ++b) {
    result[b].resize(static_cast<size_t>(outputs));
    for (int64_t c = 0; c < outputs; ++c) {
      double v = flat[b * outputs + c];
      if (!options_.out_mean.empty()) v = v * options_.out_std[c] + options_.out_mean[c];
      result[b][c] = static_cast<float>(v);
    }
  }
  return result;
}

std::vector<std::vector<float>> CortexDecoder::unscale(const Tensor& out) const {
  return unscale(data_to_dtype(out, DType::f32).to_vector<float>());
}

std::vector<std::vector<float>> CortexDecoder::decode(const std::vector<const Window*>& windows) {
  if (windows.empty()) return {};
  NoGradGuard no_grad;
  const double length = model_->config().window_ms;
#ifdef CORTEX_WITH_CUDA
  int64_t events = 0;
  for (const Window* w : windows) events += static_cast<int64_t>(w->size());
  if (graphs_ && graphs_->fits(nn::EventSource::tokens, static_cast<int64_t>(windows.size()), events)) {
    std::vector<nn::SpikeEvents> samples;
    samples.reserve(windows.size());
    std::vector<nn::TokenWindow> packed;
    for (const Window* w : windows) {
      samples.push_back(to_events(*w));
      packed.push_back({&samples.back(), w->end_ms - length, query_time(w->end_ms)});
    }
    if (auto out = graphs_->decode_tokens(packed)) return unscale(*out);
  }
#endif
  std::lock_guard<std::mutex> lock(eager_mu_);
  nn::CortexInput input;
  nn::BehaviourQueries queries;
  for (const Window* w : windows) {
    input.add_sample(to_events(*w), w->end_ms - length);
    queries.add_sample({query_time(w->end_ms)});
  }
  return unscale(model_->forward(input, queries));
}

Tensor CortexDecoder::encode_events(const Window& events) {
  NoGradGuard no_grad;
  std::lock_guard<std::mutex> lock(eager_mu_);
  const nn::EventKV kv = streamer_->event_kv(to_events(events));
  const int64_t n = static_cast<int64_t>(events.size()), dim = model_->config().dim;
  Tensor rows = empty({n, 2 * dim}, DType::f32, model_->device());
  if (n == 0) return rows;
  copy_(narrow_data(rows, 1, 0, dim), reshape(kv.key, {n, dim}));
  copy_(narrow_data(rows, 1, dim, dim), reshape(kv.value, {n, dim}));
  return rows;
}

std::vector<std::vector<float>> CortexDecoder::decode_cached(const std::vector<const CachedWindow*>& windows) {
  if (windows.empty()) return {};
  NoGradGuard no_grad;
  const nn::CortexConfig& c = model_->config();
#ifdef CORTEX_WITH_CUDA
  int64_t events = 0;
  for (const CachedWindow* w : windows) events += w->rows.defined() ? w->rows.size(0) : 0;
  if (graphs_ && graphs_->fits(nn::EventSource::cached_kv, static_cast<int64_t>(windows.size()), events)) {
    std::vector<nn::CachedWindowShape> shapes;
    std::vector<Tensor> rows;
    for (const CachedWindow* w : windows) {
      rows.push_back(w->rows);
      shapes.push_back({w->rows.defined() ? w->rows.size(0) : 0, w->end_ms - c.window_ms, query_time(w->end_ms)});
    }
    if (auto out = graphs_->decode_cached(shapes, rows)) return unscale(*out);
  }
#endif
  std::lock_guard<std::mutex> lock(eager_mu_);
  std::vector<nn::EventKV> kvs;
  std::vector<double> starts;
  nn::BehaviourQueries queries;
  for (const CachedWindow* w : windows) {
    const int64_t n = w->rows.defined() ? w->rows.size(0) : 0;
    Tensor rows = n > 0 ? w->rows : empty({0, 2 * c.dim}, DType::f32, model_->device());
    CORTEX_CHECK(rows.dim() == 2 && rows.size(1) == 2 * c.dim, "CortexDecoder::decode_cached", "expected rows [n, ",
                 2 * c.dim, "], got ", rows.describe());
    kvs.push_back(nn::event_kv_from_rows(rows, c, model_->dtype()));
    starts.push_back(w->end_ms - c.window_ms);
    queries.add_sample({query_time(w->end_ms)});
  }
  return unscale(streamer_->decode(kvs, starts, queries));
}

}  // namespace cortex::serve
