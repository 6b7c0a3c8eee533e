#pragma once
// Streaming inference for the server. Event keys/values depend only on (unit, count,
// absolute time) and the weights, so they are computed once when events arrive and reused
// by every later window that contains them; each inference runs only the latent
// cross-attention, the latent blocks and the behaviour head. The result equals a forward
// from scratch bit for bit on the same device (tests/nn/test_cortex_streaming.cpp).
#include <deque>
#include <vector>

#include "nn/cortex/cortex.h"

namespace cortex::nn {

// Keys/values of recent events in arrival (time) order.
class EventKVCache {
 public:
  // `events` must be sorted by time and not earlier than anything cached; kv is their K/V.
  void append(const SpikeEvents& events, const EventKV& kv);
  // Forgets events earlier than time_ms.
  void evict_before(double time_ms);
  // K/V of the cached events with start_ms <= t < end_ms, in time order.
  EventKV window(double start_ms, double end_ms) const;
  // The events themselves, same selection (for checks and logging).
  SpikeEvents window_events(double start_ms, double end_ms) const;
  int64_t size() const;
  void clear() { chunks_.clear(); }

 private:
  struct Chunk {
    SpikeEvents events;
    EventKV kv;
  };
  std::deque<Chunk> chunks_;
};

// An event's cached row as the server stores it: [key | value], 2 * dim floats (f32). Turns
// rows [n, 2 * dim] back into K/V [n, heads, head_dim] in `dtype`, each contiguous.
EventKV event_kv_from_rows(const Tensor& rows, const CortexConfig& config, DType dtype);

class CortexStreamer {
 public:
  // The model must stay alive, be in eval mode and use no time-bin embedding.
  explicit CortexStreamer(const Cortex& model);

  // Recomputes the projected embedding tables; call after the weights change.
  void refresh();
  const Cortex& model() const { return model_; }

  EventKV event_kv(const SpikeEvents& events) const;
  // Velocity [Nq, outputs] at each window's query times, from each window's cached K/V.
  Tensor decode(const std::vector<EventKV>& windows, const std::vector<double>& window_start_ms,
                const BehaviourQueries& queries) const;
  Tensor decode(const EventKV& window, double window_start_ms, const std::vector<double>& query_times_ms) const;

 private:
  const Cortex& model_;
  EventKVTables tables_;
};

}  // namespace cortex::nn
