#pragma once
// Cortex: a Perceiver-style decoder over spike events (see docs/cortex-model.md).
//   tokens (unit + count [+ time bin]) -> per-event K/V rotated by absolute time
//   -> learned latents cross-attend to their sample's events -> MLP
//   -> `depth` self-attention blocks over the latents
//   -> behaviour head (queries at output times -> velocity) and masked-spike head
//      (queries at masked (unit, time) cells -> Poisson log rate).
// Only ops from ops/ touch tensor data, so the same code runs on every device; the host
// handles index bookkeeping (ids, offsets, rotary angles of times) alone.
#include <memory>
#include <vector>

#include "nn/cortex/event_encoder.h"
#include "nn/cortex/latent_block.h"
#include "nn/cortex/query_decoder.h"
#include "nn/cortex/rotary.h"
#include "nn/cortex/spike_batch.h"
#include "nn/cortex/tokenizer.h"
#include "nn/model_config.h"

namespace cortex::nn {

class Cortex : public Module {
 public:
  explicit Cortex(const CortexConfig& config, Generator* gen = nullptr, DType dtype = DType::f32,
                  Device device = Device::cpu());

  const CortexConfig& config() const { return config_; }
  const TimeRotary& rotary() const { return rotary_; }
  Device device() const { return encoder->latents.device(); }
  DType dtype() const { return encoder->latents.dtype(); }

  // Latent times of each window, sample-major: L times evenly spaced over the window
  // (bin centres of L equal parts).
  std::vector<double> latent_times(const std::vector<double>& window_start_ms) const;

  // Latents [B, L, dim] of each sample. Every event must lie in its sample's window.
  Tensor encode(const CortexInput& input) const;
  // Velocity (config.outputs components) at each query time: [Nq, outputs].
  Tensor behaviour(const Tensor& latents, const std::vector<double>& window_start_ms,
                   const BehaviourQueries& queries) const;
  // Log Poisson rate of each masked (unit, time) cell: [Nm].
  Tensor masked_spike_log_rate(const Tensor& latents, const std::vector<double>& window_start_ms,
                               const MaskedSpikeQueries& queries) const;
  // encode + behaviour.
  Tensor forward(const CortexInput& input, const BehaviourQueries& queries) const;

  // ---- the streaming split of encode (used by CortexStreamer) ----
  // Keys and values of events, each depending only on (unit, count, absolute time) and the
  // weights: computing them in chunks gives the same bits as computing them together.
  // Not available with the time-bin embedding (its token depends on the window start).
  EventKVTables kv_tables() const;
  EventKV event_kv(const EventKVTables& tables, const SpikeEvents& events) const;
  // The rest of encode from cached K/V, packed per sample by `segments`.
  Tensor encode_from_kv(const EventKV& kv, const Segments& segments, const std::vector<double>& window_start_ms) const;

  std::shared_ptr<SpikeTokenizer> tokenizer;
  std::shared_ptr<EventEncoder> encoder;
  std::shared_ptr<ModuleList> blocks;  // LatentBlock
  std::shared_ptr<QueryDecoder> behaviour_head;
  std::shared_ptr<QueryDecoder> masked_spike_head;

 private:
  RotaryAngles angles(const std::vector<double>& times_ms) const;
  CortexConfig config_;
  TimeRotary rotary_;
};

// The parameter count a config gives, without building the model.
int64_t cortex_parameter_count(const CortexConfig& config);

}  // namespace cortex::nn
