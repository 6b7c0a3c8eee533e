#pragma once
// Cortex inference with fixed shapes, for CUDA graphs: a batch is padded to a bucket (B
// windows, room for N events) and everything that varies between batches sits in a few
// preallocated tensors (StaticBatch). The forward reads only those tensors: no host work, no
// host<->device copy, no synchronisation and no allocation whose size depends on the data,
// so it can be captured once per bucket and replayed with new contents.
//
// What varies lives in two flat buffers, so one copy each fills them from the host, and
// only their used prefix needs copying (slots past it keep earlier, valid contents):
//   indices (i64): the B + 1 key offsets, then each event's (unit row, count row);
//   times   (f64): each window's start, each window's query time, then each event's time.
// Rotary angles are computed from the times on the device (rotary_angles), in double as
// the eager path computes them on the host, so both give the same angles.
//
// Two event sources: tokens (the events themselves; their keys/values are computed in the
// forward) and cached K/V rows (the stream cache's rows, [N, 2 * dim] f32, copied in on the
// device). Padding: windows past the batch have no events and times 0; event slots past the
// last offset are never read by the attention, but their tokens are still looked up, so they
// must hold valid rows: allocate() zeroes them and packing only ever writes checked rows.
#include <vector>

#include "nn/cortex/cortex.h"

namespace cortex::nn {

enum class EventSource { tokens, cached_kv };

struct StaticShape {
  int64_t batch = 1;           // windows
  int64_t event_capacity = 1;  // events of all windows together
  EventSource source = EventSource::tokens;
};

// The inputs of one bucket. Views (unit_rows(), ...) share the flat buffers.
struct StaticBatch {
  StaticShape shape;
  Tensor indices;  // i64: [B + 1 + 2 * N] tokens, [B + 1] cached
  Tensor times;    // f64: [2 * B + N] tokens, [2 * B] cached
  Tensor kv_rows;  // cached only: f32 [N, 2 * dim], each event's rotated key then value

  Tensor key_offsets() const;    // [B + 1]
  Tensor unit_rows() const;      // [N] (tokens)
  Tensor count_rows() const;     // [N] (tokens)
  Tensor window_starts() const;  // [B]
  Tensor query_times() const;    // [B]: one behaviour query per window
  Tensor event_times() const;    // [N] (tokens)
  // The prefixes of indices and times that a batch of `events` events uses.
  Tensor used_indices(int64_t events) const;
  Tensor used_times(int64_t events) const;
};

// One window of a batch for pack_tokens: its events, window start and behaviour query time.
struct TokenWindow {
  const SpikeEvents* events;
  double start_ms;
  double query_ms;
};

// One window for pack_cached: how many cached K/V rows it has, its start and query time.
struct CachedWindowShape {
  int64_t rows;
  double start_ms;
  double query_ms;
};

class StaticCortexForward {
 public:
  // The model must stay alive, be in eval mode and use no time-bin embedding (its tokens
  // depend on the window start); its projected embedding tables are computed here.
  explicit StaticCortexForward(const Cortex& model);
  // Recomputes the projected tables; call after the weights change.
  void refresh();
  const Cortex& model() const { return model_; }

  // Buffers of a bucket on `device`, holding a valid empty batch (no events, times 0).
  StaticBatch allocate(const StaticShape& shape, Device device) const;

  // Host side: fills `host` (CPU tensors from allocate(shape, cpu) or views of pinned
  // memory) with up to B windows, checking every event as the eager path does (unit and
  // count, time inside its window) and that the events fit the capacity. Writes only the
  // used prefixes (see used_indices) and returns the number of events.
  int64_t pack_tokens(const StaticBatch& host, const std::vector<TokenWindow>& windows) const;
  int64_t pack_cached(const StaticBatch& host, const std::vector<CachedWindowShape>& windows) const;
  // Device side of pack_cached: copies window w's rows [n_w, 2 * dim] into kv_rows at its
  // offset (packed in order, as pack_cached placed them).
  void place_cached_rows(const StaticBatch& batch, const std::vector<Tensor>& rows) const;

  // Velocity [B, outputs] of every window (padded ones included) from the batch's tensors.
  Tensor forward(const StaticBatch& batch) const;

 private:
  EventKV token_kv(const StaticBatch& batch) const;
  EventKV cached_kv(const StaticBatch& batch) const;
  // Checks that `host` is a contiguous CPU batch of `source` that windows of these sizes fit;
  // writes their key offsets, starts and query times (padded windows: empty, times 0).
  // Returns the number of events.
  int64_t pack_windows(const StaticBatch& host, EventSource source, const std::vector<int64_t>& sizes,
                       const std::vector<double>& starts, const std::vector<double>& queries, const char* op) const;

  const Cortex& model_;
  EventKVTables tables_;
  Tensor frequencies_;     // f64 [R/4] on the model's device
  Tensor latent_offsets_;  // f64 [L]: latent times relative to the window start
};

}  // namespace cortex::nn
