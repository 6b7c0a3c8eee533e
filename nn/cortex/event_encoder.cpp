#include "nn/cortex/event_encoder.h"

#include "engine/factory.h"
#include "nn/cortex/attention.h"
#include "ops/elementwise.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex::nn {

EventEncoder::EventEncoder(const CortexConfig& config, Generator* gen, DType dtype, Device device)
    : heads_(config.heads), dim_(config.dim) {
  const int64_t d = config.dim;
  latents = register_parameter("latents", normal({config.latents, d}, 0.0, 1.0, dtype, device, gen));
  norm_q = register_module("norm_q", std::make_shared<RMSNorm>(d, 1e-6, dtype, device));
  q = register_module("q", std::make_shared<Linear>(d, d, false, gen, dtype, device));
  kv = register_module("kv", std::make_shared<Linear>(d, 2 * d, false, gen, dtype, device));
  out = register_module("out", std::make_shared<Linear>(d, d, true, gen, dtype, device));
  drop = register_module("drop", std::make_shared<Dropout>(config.dropout, gen));
  ffn =
      register_module("ffn", std::make_shared<FeedForward>(d, config.ffn_mult * d, config.dropout, gen, dtype, device));
}

EventKVTables EventEncoder::kv_tables(const SpikeTokenizer& tokenizer) const {
  EventKVTables t;
  t.unit = kv->forward(tokenizer.unit->weight);
  t.count = kv->forward(tokenizer.count->weight);
  if (tokenizer.has_time_bins()) t.time_bin = kv->forward(tokenizer.time_bin->weight);
  return t;
}

EventKV EventEncoder::event_kv(const EventKVTables& tables, const EventIndices& indices,
                               const RotaryAngles& event_angles) const {
  Tensor kv_rows = add(embedding(indices.unit, tables.unit), embedding(indices.count, tables.count));
  if (indices.bin.defined()) kv_rows = add(kv_rows, embedding(indices.bin, tables.time_bin));
  return event_kv(kv_rows, event_angles);
}

EventKV EventEncoder::event_kv(const Tensor& kv_rows, const RotaryAngles& event_angles) const {
  const int64_t n = kv_rows.size(0);
  CORTEX_CHECK(kv_rows.dim() == 2 && kv_rows.size(1) == 2 * dim_, "EventEncoder::event_kv", "expected K/V rows [E, ",
               2 * dim_, "], got ", kv_rows.describe());
  CORTEX_CHECK(event_angles.size() == n, "EventEncoder::event_kv", n, " events but ", event_angles.size(),
               " rotary angles");
  const Tensor k = split_heads(narrow(kv_rows, 1, 0, dim_), heads_);
  const Tensor v = split_heads(narrow(kv_rows, 1, dim_, dim_), heads_);
  // Values are rotated too: after attention the latent undoes its own rotation, so what it
  // reads carries each event's time relative to the latent (as in POYO).
  return {rotate(k, event_angles), rotate(v, event_angles)};
}

Tensor EventEncoder::forward(const EventKV& event_kv, const Segments& segments,
                             const RotaryAngles& latent_angles) const {
  segments.check("EventEncoder", "event", event_kv.size(), segments.samples());
  return forward_with(segments.samples(), latent_angles, [&](const Tensor& q) {
    return segmented_attention(q, Segments::uniform(segments.samples(), latents.size(0)), event_kv.key,
                               event_kv.value, segments);
  });
}

Tensor EventEncoder::forward(const EventKV& event_kv, const Tensor& key_offsets,
                             const RotaryAngles& latent_angles) const {
  CORTEX_CHECK(key_offsets.defined() && key_offsets.dim() == 1 && key_offsets.numel() >= 1, "EventEncoder",
               "expected key offsets [B + 1], got ", describe(key_offsets));
  return forward_with(key_offsets.numel() - 1, latent_angles, [&](const Tensor& q) {
    return segmented_attention_device_offsets(q, event_kv.key, event_kv.value, key_offsets);
  });
}

Tensor EventEncoder::forward_with(int64_t samples, const RotaryAngles& latent_angles,
                                  const std::function<Tensor(const Tensor&)>& attend) const {
  const int64_t l = latents.size(0);
  CORTEX_CHECK(latent_angles.size() == samples * l, "EventEncoder", "expected ", samples * l, " latent angles for ",
               samples, " samples, got ", latent_angles.size());
  // Every sample starts from the same latents; only their times (rotations) differ.
  const Tensor q_lat = split_heads(q->forward(norm_q->forward(latents)), heads_);
  const Tensor q_all =
      reshape(expand(unsqueeze(q_lat, 0), {samples, l, heads_, dim_ / heads_}), {samples * l, heads_, dim_ / heads_});
  const Tensor attended = attend(rotate(q_all, latent_angles));
  const Tensor read = merge_heads(rotate(attended, latent_angles, /*inverse=*/true));
  const Tensor x = add(unsqueeze(latents, 0), reshape(drop->forward(out->forward(read)), {samples, l, dim_}));
  return ffn->forward(x);
}

int64_t event_encoder_parameters(const CortexConfig& c) {
  const int64_t d = c.dim;
  return c.latents * d + d + d * d + 2 * d * d + (d * d + d) + feed_forward_parameters(d, c.ffn_mult * d);
}

}  // namespace cortex::nn
