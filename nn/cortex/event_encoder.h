#pragma once
// The Perceiver encoder: a fixed array of learned latents cross-attends to the spike tokens
// of its own sample, then an MLP.
//
// Event keys and values come straight from the token embeddings (no norm in between), so
// they are linear in the embedding tables: the K/V projection is applied to the tables
// once (EventKVTables) and each event's K/V is a sum of table rows, rotated by the event's
// absolute time. An event's K/V therefore depends only on (unit, count, time) and the
// weights, bit for bit, whatever other events share the call or the window.
#include <functional>
#include <memory>

#include "nn/cortex/feed_forward.h"
#include "nn/cortex/rotary.h"
#include "nn/cortex/segments.h"
#include "nn/cortex/tokenizer.h"

namespace cortex::nn {

// Per-event keys and values [E, heads, head_dim], rotated by absolute event time.
struct EventKV {
  Tensor key, value;
  int64_t size() const { return key.defined() ? key.size(0) : 0; }
};

// The K/V projection of each embedding table: [rows, 2 * dim] (keys then values).
struct EventKVTables {
  Tensor unit, count, time_bin;  // time_bin undefined without the time-bin embedding
};

class EventEncoder : public Module {
 public:
  EventEncoder(const CortexConfig& config, Generator* gen, DType dtype, Device device);

  EventKVTables kv_tables(const SpikeTokenizer& tokenizer) const;
  // K/V of events from their table indices and the rotary angles of their times.
  EventKV event_kv(const EventKVTables& tables, const EventIndices& indices, const RotaryAngles& event_angles) const;
  // The same from the events' summed table rows [E, 2 * dim] (keys then values, unrotated).
  EventKV event_kv(const Tensor& kv_rows, const RotaryAngles& event_angles) const;
  // Latents [B, L, dim] after cross-attention to each sample's K/V segment and the MLP.
  // latent_angles: the B * L latent times (sample-major).
  Tensor forward(const EventKV& kv, const Segments& segments, const RotaryAngles& latent_angles) const;
  // The same with the segments' offsets in a device tensor, i64/i32 [B + 1] (inference only,
  // see segmented_attention_device_offsets): kv may hold rows past the last offset (ignored).
  Tensor forward(const EventKV& kv, const Tensor& key_offsets, const RotaryAngles& latent_angles) const;

  Tensor latents;  // [L, dim]
  std::shared_ptr<RMSNorm> norm_q;
  std::shared_ptr<Linear> q, kv, out;
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<FeedForward> ffn;

 private:
  // The cross-attention and MLP; attend(q) is rotated latent queries [B * L, H, Dh] -> reads.
  Tensor forward_with(int64_t samples, const RotaryAngles& latent_angles,
                      const std::function<Tensor(const Tensor&)>& attend) const;
  int64_t heads_, dim_;
};

int64_t event_encoder_parameters(const CortexConfig& config);

}  // namespace cortex::nn
