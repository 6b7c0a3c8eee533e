#include "nn/cortex/query_decoder.h"

#include "engine/factory.h"
#include "nn/cortex/attention.h"
#include "ops/elementwise.h"
#include "ops/views.h"

namespace cortex::nn {

QueryDecoder::QueryDecoder(int64_t dim, int64_t heads, int64_t ffn_hidden, int64_t outputs, double dropout,
                           Generator* gen, DType dtype, Device device)
    : heads_(heads), dim_(dim) {
  query = register_parameter("query", normal({dim}, 0.0, 1.0, dtype, device, gen));
  norm_q = register_module("norm_q", std::make_shared<RMSNorm>(dim, 1e-6, dtype, device));
  norm_kv = register_module("norm_kv", std::make_shared<RMSNorm>(dim, 1e-6, dtype, device));
  q = register_module("q", std::make_shared<Linear>(dim, dim, false, gen, dtype, device));
  kv = register_module("kv", std::make_shared<Linear>(dim, 2 * dim, false, gen, dtype, device));
  out = register_module("out", std::make_shared<Linear>(dim, dim, true, gen, dtype, device));
  drop = register_module("drop", std::make_shared<Dropout>(dropout, gen));
  ffn = register_module("ffn", std::make_shared<FeedForward>(dim, ffn_hidden, dropout, gen, dtype, device));
  norm_out = register_module("norm_out", std::make_shared<RMSNorm>(dim, 1e-6, dtype, device));
  readout = register_module("readout", std::make_shared<Linear>(dim, outputs, true, gen, dtype, device));
}

Tensor QueryDecoder::forward(const Tensor& latents, const RotaryAngles& latent_angles, const Segments& segments,
                             const RotaryAngles& query_angles, const Tensor& query_content) const {
  constexpr const char* op = "QueryDecoder";
  CORTEX_CHECK(latents.dim() == 3 && latents.size(2) == dim_, op, "expected latents [B, L, ", dim_, "], got ",
               latents.describe());
  const int64_t b = latents.size(0), l = latents.size(1), nq = query_angles.size();
  CORTEX_CHECK(latent_angles.size() == b * l, op, "expected ", b * l, " latent angles, got ", latent_angles.size());
  segments.check(op, "query", nq, b);
  Tensor tokens = expand(unsqueeze(query, 0), {nq, dim_});
  if (query_content.defined()) {
    CORTEX_CHECK(query_content.dim() == 2 && query_content.size(0) == nq && query_content.size(1) == dim_, op,
                 "query content must be [", nq, ", ", dim_, "], got ", query_content.describe());
    tokens = add(tokens, query_content);
  }
  const Tensor kv_rows = kv->forward(norm_kv->forward(reshape(latents, {b * l, dim_})));
  const Tensor k = rotate(split_heads(narrow(kv_rows, 1, 0, dim_), heads_), latent_angles);
  const Tensor v = rotate(split_heads(narrow(kv_rows, 1, dim_, dim_), heads_), latent_angles);
  const Tensor qh = rotate(split_heads(q->forward(norm_q->forward(tokens)), heads_), query_angles);
  const Tensor attended = segmented_attention(qh, segments, k, v, Segments::uniform(b, l));
  const Tensor read = merge_heads(rotate(attended, query_angles, /*inverse=*/true));
  const Tensor x = ffn->forward(add(tokens, drop->forward(out->forward(read))));
  return readout->forward(norm_out->forward(x));
}

int64_t query_decoder_parameters(int64_t dim, int64_t ffn_hidden, int64_t outputs) {
  return dim + 3 * dim + dim * dim + 2 * dim * dim + (dim * dim + dim) + feed_forward_parameters(dim, ffn_hidden) +
         (dim * outputs + outputs);
}

}  // namespace cortex::nn
