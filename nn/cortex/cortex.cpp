#include "nn/cortex/cortex.h"

#include <cmath>

#include "engine/factory.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex::nn {

Cortex::Cortex(const CortexConfig& config, Generator* gen, DType dtype, Device device)
    : config_((config.validate(), config)),
      rotary_(config.head_dim(), config.rotary_min_period_ms, config.rotary_max_period_ms) {
  const int64_t d = config.dim, hidden = config.ffn_mult * config.dim;
  tokenizer = register_module("tokenizer", std::make_shared<SpikeTokenizer>(config, gen, dtype, device));
  encoder = register_module("encoder", std::make_shared<EventEncoder>(config, gen, dtype, device));
  blocks = register_module("blocks", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < config.depth; ++i)
    blocks->push_back(std::make_shared<LatentBlock>(d, config.heads, hidden, config.dropout,
                                                    drop_path_rate(config.drop_path, i, config.depth), gen, dtype,
                                                    device));
  behaviour_head = register_module(
      "behaviour_head",
      std::make_shared<QueryDecoder>(d, config.heads, hidden, config.outputs, config.dropout, gen, dtype, device));
  masked_spike_head =
      register_module("masked_spike_head",
                      std::make_shared<QueryDecoder>(d, config.heads, hidden, 1, config.dropout, gen, dtype, device));
}

std::vector<double> Cortex::latent_times(const std::vector<double>& window_start_ms) const {
  const int64_t l = config_.latents;
  const double step = config_.window_ms / static_cast<double>(l);
  std::vector<double> times;
  times.reserve(window_start_ms.size() * static_cast<size_t>(l));
  for (double start : window_start_ms)
    for (int64_t i = 0; i < l; ++i) times.push_back(start + (static_cast<double>(i) + 0.5) * step);
  return times;
}

RotaryAngles Cortex::angles(const std::vector<double>& times_ms) const {
  return rotary_.angles(times_ms, dtype(), device());
}

Tensor Cortex::encode(const CortexInput& input) const {
  constexpr const char* op = "Cortex::encode";
  input.events.check_lengths(op);
  input.segments.check(op, "event", input.events.size(), input.samples());
  std::vector<double> starts(static_cast<size_t>(input.events.size()));
  for (int64_t b = 0; b < input.samples(); ++b) {
    const double start = input.window_start_ms[static_cast<size_t>(b)];
    CORTEX_CHECK(std::isfinite(start), op, "sample ", b, " has a non-finite window start");
    for (int64_t e = input.segments.begin(b); e < input.segments.begin(b) + input.segments.size(b); ++e) {
      const double t = input.events.time_ms[static_cast<size_t>(e)];
      CORTEX_CHECK(t >= start && t < start + config_.window_ms, op, "event ", e, " at ", t, " ms lies outside sample ",
                   b, "'s window [", start, ", ", start + config_.window_ms, ") ms");
      starts[static_cast<size_t>(e)] = start;
    }
  }
  const EventIndices idx = tokenizer->indices(input.events, &starts, device());
  const EventKV kv = encoder->event_kv(encoder->kv_tables(*tokenizer), idx, angles(input.events.time_ms));
  return encode_from_kv(kv, input.segments, input.window_start_ms);
}

EventKVTables Cortex::kv_tables() const { return encoder->kv_tables(*tokenizer); }

EventKV Cortex::event_kv(const EventKVTables& tables, const SpikeEvents& events) const {
  CORTEX_CHECK(!config_.time_bin_embedding, "Cortex::event_kv", "config '", config_.name,
               "' uses the time-bin embedding, whose tokens depend on the window start; window-independent event "
               "keys/values need time_bin_embedding: false");
  return encoder->event_kv(tables, tokenizer->indices(events, nullptr, device()), angles(events.time_ms));
}

Tensor Cortex::encode_from_kv(const EventKV& kv, const Segments& segments,
                              const std::vector<double>& window_start_ms) const {
  CORTEX_CHECK(segments.samples() == static_cast<int64_t>(window_start_ms.size()), "Cortex::encode_from_kv",
               segments.samples(), " event segments but ", window_start_ms.size(), " window starts");
  const RotaryAngles latent_angles = angles(latent_times(window_start_ms));
  Tensor x = encoder->forward(kv, segments, latent_angles);
  for (size_t i = 0; i < blocks->size(); ++i) x = blocks->get<LatentBlock>(i)->forward(x, latent_angles);
  return x;
}

Tensor Cortex::behaviour(const Tensor& latents, const std::vector<double>& window_start_ms,
                         const BehaviourQueries& queries) const {
  queries.segments.check("Cortex::behaviour", "query", static_cast<int64_t>(queries.time_ms.size()),
                         static_cast<int64_t>(window_start_ms.size()));
  return behaviour_head->forward(latents, angles(latent_times(window_start_ms)), queries.segments,
                                 angles(queries.time_ms));
}

Tensor Cortex::masked_spike_log_rate(const Tensor& latents, const std::vector<double>& window_start_ms,
                                     const MaskedSpikeQueries& queries) const {
  constexpr const char* op = "Cortex::masked_spike_log_rate";
  const int64_t n = queries.size();
  CORTEX_CHECK(static_cast<int64_t>(queries.time_ms.size()) == n, op, n, " units but ", queries.time_ms.size(),
               " times");
  queries.segments.check(op, "masked cell", n, static_cast<int64_t>(window_start_ms.size()));
  std::vector<int64_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const int32_t u = queries.unit[static_cast<size_t>(i)];
    CORTEX_CHECK(u >= 0 && u < config_.unit_vocab, op, "masked cell ", i, " has unit id ", u,
                 ", outside the vocabulary [0, ", config_.unit_vocab, ")");
    ids[static_cast<size_t>(i)] = u;
  }
  // The query of a masked cell says which unit it asks about: the tokenizer's unit row.
  const Tensor content = embedding(from_vector(ids, {n}, device()), tokenizer->unit->weight);
  const Tensor rate = masked_spike_head->forward(latents, angles(latent_times(window_start_ms)), queries.segments,
                                                 angles(queries.time_ms), content);
  return reshape(rate, {n});
}

Tensor Cortex::forward(const CortexInput& input, const BehaviourQueries& queries) const {
  return behaviour(encode(input), input.window_start_ms, queries);
}

int64_t cortex_parameter_count(const CortexConfig& c) {
  c.validate();
  const int64_t d = c.dim, hidden = c.ffn_mult * c.dim;
  const int64_t tokens = (c.unit_vocab + c.max_count + (c.time_bin_embedding ? c.bins_per_window() : 0)) * d;
  return tokens + event_encoder_parameters(c) + c.depth * latent_block_parameters(d, hidden) +
         query_decoder_parameters(d, hidden, c.outputs) + query_decoder_parameters(d, hidden, 1);
}

}  // namespace cortex::nn
