#include "nn/cortex/static_forward.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "nn/cortex/streaming.h"
#include "ops/elementwise.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex::nn {
namespace {

constexpr const char* kOp = "StaticCortexForward";

bool has_tokens(const StaticShape& s) { return s.source == EventSource::tokens; }
const char* source_name(EventSource s) { return s == EventSource::tokens ? "tokens" : "cached K/V rows"; }

}  // namespace

// ---- StaticBatch views ----

Tensor StaticBatch::key_offsets() const { return narrow_data(indices, 0, 0, shape.batch + 1); }

Tensor StaticBatch::unit_rows() const {
  CORTEX_CHECK(has_tokens(shape), "StaticBatch", "a batch of cached K/V rows has no tokens");
  // Every other entry after the offsets: (unit, count) pairs.
  return indices.view_as_strided({shape.event_capacity}, {2}, indices.offset() + shape.batch + 1);
}

Tensor StaticBatch::count_rows() const {
  CORTEX_CHECK(has_tokens(shape), "StaticBatch", "a batch of cached K/V rows has no tokens");
  return indices.view_as_strided({shape.event_capacity}, {2}, indices.offset() + shape.batch + 2);
}

Tensor StaticBatch::window_starts() const { return narrow_data(times, 0, 0, shape.batch); }
Tensor StaticBatch::query_times() const { return narrow_data(times, 0, shape.batch, shape.batch); }

Tensor StaticBatch::event_times() const {
  CORTEX_CHECK(has_tokens(shape), "StaticBatch", "a batch of cached K/V rows has no event times");
  return narrow_data(times, 0, 2 * shape.batch, shape.event_capacity);
}

Tensor StaticBatch::used_indices(int64_t events) const {
  return narrow_data(indices, 0, 0, shape.batch + 1 + (has_tokens(shape) ? 2 * events : 0));
}

Tensor StaticBatch::used_times(int64_t events) const {
  return narrow_data(times, 0, 0, 2 * shape.batch + (has_tokens(shape) ? events : 0));
}

// ---- StaticCortexForward ----

StaticCortexForward::StaticCortexForward(const Cortex& model) : model_(model) {
  const CortexConfig& c = model.config();
  CORTEX_CHECK(!c.time_bin_embedding, kOp, "config '", c.name,
               "' uses the time-bin embedding, whose tokens depend on the window start; fixed-shape inference needs "
               "time_bin_embedding: false");
  frequencies_ = model.rotary().frequencies(model.device());
  // The latent times' offsets from the window start, as Cortex::latent_times computes them.
  std::vector<double> offsets;
  const double step = c.window_ms / static_cast<double>(c.latents);
  for (int64_t i = 0; i < c.latents; ++i) offsets.push_back((static_cast<double>(i) + 0.5) * step);
  latent_offsets_ = from_vector(offsets, {c.latents}, model.device());
  refresh();
}

void StaticCortexForward::refresh() {
  NoGradGuard no_grad;
  tables_ = model_.kv_tables();
}

StaticBatch StaticCortexForward::allocate(const StaticShape& shape, Device device) const {
  CORTEX_CHECK(shape.batch >= 1 && shape.event_capacity >= 0, kOp, "a bucket needs >= 1 window and >= 0 events, got ",
               shape.batch, " windows and ", shape.event_capacity, " events");
  StaticBatch b;
  b.shape = shape;
  const int64_t n = shape.event_capacity;
  if (has_tokens(shape)) {
    b.indices = zeros({shape.batch + 1 + 2 * n}, DType::i64, device);
    b.times = zeros({2 * shape.batch + n}, DType::f64, device);
  } else {
    b.indices = zeros({shape.batch + 1}, DType::i64, device);
    b.times = zeros({2 * shape.batch}, DType::f64, device);
    b.kv_rows = zeros({n, 2 * model_.config().dim}, DType::f32, device);
  }
  return b;
}

int64_t StaticCortexForward::pack_windows(const StaticBatch& host, EventSource source,
                                          const std::vector<int64_t>& sizes, const std::vector<double>& starts,
                                          const std::vector<double>& queries, const char* op) const {
  const StaticShape& s = host.shape;
  CORTEX_CHECK(s.source == source, op, "the batch holds ", source_name(s.source), ", not ", source_name(source));
  CORTEX_CHECK(host.indices.device().is_cpu() && host.indices.is_contiguous() && host.times.device().is_cpu() &&
                   host.times.is_contiguous(),
               op, "packs into contiguous host tensors, got indices ", describe(host.indices), " and times ",
               describe(host.times));
  const int64_t windows = static_cast<int64_t>(sizes.size());
  CORTEX_CHECK(windows <= s.batch, op, windows, " windows do not fit a bucket of ", s.batch);
  int64_t total = 0;
  for (int64_t n : sizes) total += n;
  CORTEX_CHECK(total <= s.event_capacity, op, "the windows' ", total, " events do not fit a bucket of ",
               s.event_capacity);
  int64_t* offsets = host.indices.data<int64_t>();
  double* times = host.times.data<double>();
  offsets[0] = 0;
  for (int64_t w = 0; w < s.batch; ++w) {
    const bool real = w < windows;
    if (real)
      CORTEX_CHECK(std::isfinite(starts[w]) && std::isfinite(queries[w]), op, "window ", w,
                   " has a non-finite start or query time (", starts[w], ", ", queries[w], ")");
    offsets[w + 1] = offsets[w] + (real ? sizes[w] : 0);
    times[w] = real ? starts[w] : 0.0;
    times[s.batch + w] = real ? queries[w] : 0.0;
  }
  return total;
}

int64_t StaticCortexForward::pack_tokens(const StaticBatch& host, const std::vector<TokenWindow>& windows) const {
  constexpr const char* op = "StaticCortexForward::pack_tokens";
  std::vector<int64_t> sizes;
  std::vector<double> starts, queries;
  for (const TokenWindow& w : windows) {
    CORTEX_CHECK(w.events != nullptr, op, "window ", sizes.size(), " has no event list");
    w.events->check_lengths(op);
    sizes.push_back(w.events->size());
    starts.push_back(w.start_ms);
    queries.push_back(w.query_ms);
  }
  const int64_t total = pack_windows(host, EventSource::tokens, sizes, starts, queries, op);
  const int64_t b = host.shape.batch;
  int64_t* rows = host.indices.data<int64_t>() + b + 1;  // (unit, count) pairs
  double* times = host.times.data<double>() + 2 * b;
  const double length = model_.config().window_ms;
  int64_t slot = 0;
  for (size_t w = 0; w < windows.size(); ++w) {
    const SpikeEvents& ev = *windows[w].events;
    const double start = windows[w].start_ms;
    for (int64_t e = 0; e < ev.size(); ++e, ++slot) {
      const auto [unit, count] = model_.tokenizer->rows_of(ev, e);
      const double t = ev.time_ms[static_cast<size_t>(e)];
      CORTEX_CHECK(t >= start && t < start + length, op, "event ", e, " of window ", w, " at ", t,
                   " ms lies outside the window [", start, ", ", start + length, ") ms");
      rows[2 * slot] = unit;
      rows[2 * slot + 1] = count;
      times[slot] = t;
    }
  }
  return total;
}

int64_t StaticCortexForward::pack_cached(const StaticBatch& host, const std::vector<CachedWindowShape>& windows) const {
  constexpr const char* op = "StaticCortexForward::pack_cached";
  std::vector<int64_t> sizes;
  std::vector<double> starts, queries;
  for (const CachedWindowShape& w : windows) {
    CORTEX_CHECK(w.rows >= 0, op, "window ", sizes.size(), " has ", w.rows, " rows");
    sizes.push_back(w.rows);
    starts.push_back(w.start_ms);
    queries.push_back(w.query_ms);
  }
  return pack_windows(host, EventSource::cached_kv, sizes, starts, queries, op);
}

void StaticCortexForward::place_cached_rows(const StaticBatch& batch, const std::vector<Tensor>& rows) const {
  constexpr const char* op = "StaticCortexForward::place_cached_rows";
  CORTEX_CHECK(!has_tokens(batch.shape), op, "the batch holds tokens, not cached K/V rows");
  CORTEX_CHECK(static_cast<int64_t>(rows.size()) <= batch.shape.batch, op, rows.size(),
               " windows do not fit a bucket of ", batch.shape.batch);
  const int64_t width = batch.kv_rows.size(1);
  int64_t offset = 0;
  for (size_t w = 0; w < rows.size(); ++w) {
    const Tensor& r = rows[w];
    if (!r.defined() || r.numel() == 0) continue;
    CORTEX_CHECK(r.dim() == 2 && r.size(1) == width && r.dtype() == DType::f32, op, "window ", w,
                 " has rows ", r.describe(), ", expected f32 [n, ", width, "]");
    CORTEX_CHECK(offset + r.size(0) <= batch.shape.event_capacity, op, "the windows' rows exceed the bucket's ",
                 batch.shape.event_capacity);
    copy_(narrow_data(batch.kv_rows, 0, offset, r.size(0)), r);
    offset += r.size(0);
  }
}

EventKV StaticCortexForward::token_kv(const StaticBatch& batch) const {
  const Tensor rows =
      add(embedding_trusted(batch.unit_rows(), tables_.unit), embedding_trusted(batch.count_rows(), tables_.count));
  return model_.encoder->event_kv(rows, rotary_angles(batch.event_times(), frequencies_, model_.dtype()));
}

EventKV StaticCortexForward::cached_kv(const StaticBatch& batch) const {
  return event_kv_from_rows(batch.kv_rows, model_.config(), model_.dtype());
}

Tensor StaticCortexForward::forward(const StaticBatch& batch) const {
  CORTEX_CHECK(!model_.is_training(), kOp, "the model is in training mode; call eval() first");
  CORTEX_CHECK(batch.indices.device() == model_.device() && batch.times.device() == model_.device(), kOp,
               "the batch lives on ", batch.indices.device().str(), " but the model on ", model_.device().str());
  NoGradGuard no_grad;
  const int64_t b = batch.shape.batch, l = model_.config().latents;
  const EventKV kv = has_tokens(batch.shape) ? token_kv(batch) : cached_kv(batch);
  const Tensor latent_times = reshape(add(unsqueeze(batch.window_starts(), 1), latent_offsets_), {b * l});
  const RotaryAngles latent_angles = rotary_angles(latent_times, frequencies_, model_.dtype());
  Tensor x = model_.encoder->forward(kv, batch.key_offsets(), latent_angles);
  for (size_t i = 0; i < model_.blocks->size(); ++i) x = model_.blocks->get<LatentBlock>(i)->forward(x, latent_angles);
  const RotaryAngles query_angles = rotary_angles(batch.query_times(), frequencies_, model_.dtype());
  return model_.behaviour_head->forward(x, latent_angles, Segments::uniform(b, 1), query_angles);
}

}  // namespace cortex::nn
