#include "nn/cortex/streaming.h"

#include <algorithm>

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "ops/shape_ops.h"
#include "ops/views.h"

namespace cortex::nn {

EventKV event_kv_from_rows(const Tensor& rows, const CortexConfig& config, DType dtype) {
  const int64_t n = rows.size(0);
  auto half = [&](int64_t first) {
    const Tensor part = data_to_dtype(contiguous_copy(narrow_data(rows, 1, first, config.dim)), dtype);
    return reshape(part, {n, config.heads, config.head_dim()});
  };
  return {half(0), half(config.dim)};
}

namespace {

// Rows [lo, hi) of a chunk's time-sorted events that fall in [start, end).
std::pair<int64_t, int64_t> rows_in(const std::vector<double>& times, double start, double end) {
  const auto lo = std::lower_bound(times.begin(), times.end(), start);
  const auto hi = std::lower_bound(lo, times.end(), end);
  return {lo - times.begin(), hi - times.begin()};
}

EventKV cat_kv(const std::vector<EventKV>& parts, int64_t heads, int64_t head_dim, DType dtype, Device device) {
  std::vector<Tensor> keys, values;
  for (const EventKV& p : parts) {
    if (p.size() == 0) continue;
    keys.push_back(p.key);
    values.push_back(p.value);
  }
  if (keys.empty()) {
    Tensor empty_rows = zeros({0, heads, head_dim}, dtype, device);
    return {empty_rows, empty_rows};
  }
  if (keys.size() == 1) return {keys[0], values[0]};
  return {cat(keys, 0), cat(values, 0)};
}

}  // namespace

void EventKVCache::append(const SpikeEvents& events, const EventKV& kv) {
  events.check_lengths("EventKVCache::append");
  CORTEX_CHECK(kv.size() == events.size(), "EventKVCache::append", events.size(), " events but K/V for ", kv.size());
  if (events.size() == 0) return;
  CORTEX_CHECK(std::is_sorted(events.time_ms.begin(), events.time_ms.end()), "EventKVCache::append",
               "events must be sorted by time");
  for (auto it = chunks_.rbegin(); it != chunks_.rend(); ++it) {
    if (it->events.size() == 0) continue;
    CORTEX_CHECK(events.time_ms.front() >= it->events.time_ms.back(), "EventKVCache::append", "events from ",
                 events.time_ms.front(), " ms arrive after cached events up to ", it->events.time_ms.back(), " ms");
    break;
  }
  chunks_.push_back({events, kv});
}

void EventKVCache::evict_before(double time_ms) {
  while (!chunks_.empty()) {
    Chunk& c = chunks_.front();
    const auto& t = c.events.time_ms;
    const int64_t lo = std::lower_bound(t.begin(), t.end(), time_ms) - t.begin();
    if (lo == c.events.size()) {
      chunks_.pop_front();
      continue;
    }
    if (lo > 0) {
      const int64_t keep = c.events.size() - lo;
      c.events = c.events.slice(lo, c.events.size());
      c.kv = {narrow(c.kv.key, 0, lo, keep), narrow(c.kv.value, 0, lo, keep)};
    }
    return;
  }
}

EventKV EventKVCache::window(double start_ms, double end_ms) const {
  std::vector<EventKV> parts;
  int64_t heads = 0, head_dim = 0;
  DType dtype = DType::f32;
  Device device = Device::cpu();
  for (const Chunk& c : chunks_) {
    heads = c.kv.key.size(1);
    head_dim = c.kv.key.size(2);
    dtype = c.kv.key.dtype();
    device = c.kv.key.device();
    const auto [lo, hi] = rows_in(c.events.time_ms, start_ms, end_ms);
    if (hi > lo) parts.push_back({narrow(c.kv.key, 0, lo, hi - lo), narrow(c.kv.value, 0, lo, hi - lo)});
  }
  return cat_kv(parts, heads, head_dim, dtype, device);
}

SpikeEvents EventKVCache::window_events(double start_ms, double end_ms) const {
  SpikeEvents out;
  for (const Chunk& c : chunks_) {
    const auto [lo, hi] = rows_in(c.events.time_ms, start_ms, end_ms);
    out.append(c.events.slice(lo, hi));
  }
  return out;
}

int64_t EventKVCache::size() const {
  int64_t n = 0;
  for (const Chunk& c : chunks_) n += c.events.size();
  return n;
}

CortexStreamer::CortexStreamer(const Cortex& model) : model_(model) {
  CORTEX_CHECK(!model.config().time_bin_embedding, "CortexStreamer", "config '", model.config().name,
               "' uses the time-bin embedding, whose tokens depend on the window start; streaming needs "
               "time_bin_embedding: false");
  refresh();
}

void CortexStreamer::refresh() {
  NoGradGuard no_grad;
  tables_ = model_.kv_tables();
}

EventKV CortexStreamer::event_kv(const SpikeEvents& events) const {
  NoGradGuard no_grad;
  return model_.event_kv(tables_, events);
}

Tensor CortexStreamer::decode(const std::vector<EventKV>& windows, const std::vector<double>& window_start_ms,
                              const BehaviourQueries& queries) const {
  CORTEX_CHECK(!model_.is_training(), "CortexStreamer::decode", "the model is in training mode; call eval() first");
  CORTEX_CHECK(windows.size() == window_start_ms.size(), "CortexStreamer::decode", windows.size(), " windows but ",
               window_start_ms.size(), " window starts");
  NoGradGuard no_grad;
  std::vector<int64_t> sizes;
  for (const EventKV& w : windows) sizes.push_back(w.size());
  const CortexConfig& c = model_.config();
  const EventKV packed = cat_kv(windows, c.heads, c.head_dim(), model_.dtype(), model_.device());
  const Tensor latents = model_.encode_from_kv(packed, Segments::from_sizes(sizes), window_start_ms);
  return model_.behaviour(latents, window_start_ms, queries);
}

Tensor CortexStreamer::decode(const EventKV& window, double window_start_ms,
                              const std::vector<double>& query_times_ms) const {
  BehaviourQueries q;
  q.add_sample(query_times_ms);
  return decode(std::vector<EventKV>{window}, {window_start_ms}, q);
}

}  // namespace cortex::nn
