#pragma once
// An output head: queries at requested times cross-attend to their own sample's latents
// (queries rotated by query time, latent keys and values by latent time, the read-out
// rotated back by query time), then an MLP and a linear read-out. Used for behaviour
// (one query per output time -> velocity) and for masked spikes (one query per masked
// (unit, time) cell -> log rate).
#include <memory>
#include <vector>

#include "nn/cortex/feed_forward.h"
#include "nn/cortex/rotary.h"
#include "nn/cortex/segments.h"

namespace cortex::nn {

class QueryDecoder : public Module {
 public:
  QueryDecoder(int64_t dim, int64_t heads, int64_t ffn_hidden, int64_t outputs, double dropout, Generator* gen,
               DType dtype, Device device);

  // latents [B, L, dim] with latent_angles (B * L, sample-major); queries packed per sample
  // by `segments`, at query_angles. query_content [Nq, dim] is added to the learned query
  // vector (undefined: the query vector alone). Returns [Nq, outputs].
  Tensor forward(const Tensor& latents, const RotaryAngles& latent_angles, const Segments& segments,
                 const RotaryAngles& query_angles, const Tensor& query_content = Tensor()) const;

  Tensor query;  // [dim]
  std::shared_ptr<RMSNorm> norm_q, norm_kv, norm_out;
  std::shared_ptr<Linear> q, kv, out, readout;
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<FeedForward> ffn;

 private:
  int64_t heads_, dim_;
};

int64_t query_decoder_parameters(int64_t dim, int64_t ffn_hidden, int64_t outputs);

}  // namespace cortex::nn
