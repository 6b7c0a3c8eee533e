#include "nn/cortex/latent_block.h"

#include "nn/cortex/attention.h"
#include "ops/dense_attention.h"
#include "ops/elementwise.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex::nn {

LatentBlock::LatentBlock(int64_t dim, int64_t heads, int64_t ffn_hidden, double dropout, double drop_path_p,
                         Generator* gen, DType dtype, Device device)
    : heads_(heads) {
  norm = register_module("norm", std::make_shared<RMSNorm>(dim, 1e-6, dtype, device));
  qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, false, gen, dtype, device));
  out = register_module("out", std::make_shared<Linear>(dim, dim, true, gen, dtype, device));
  drop = register_module("drop", std::make_shared<Dropout>(dropout, gen));
  drop_path = register_module("drop_path", std::make_shared<DropPath>(drop_path_p, gen));
  ffn = register_module("ffn", std::make_shared<FeedForward>(dim, ffn_hidden, dropout, gen, dtype, device));
}

Tensor LatentBlock::forward(const Tensor& x, const RotaryAngles& latent_angles) const {
  CORTEX_CHECK(x.dim() == 3 && latent_angles.size() == x.size(0) * x.size(1), "LatentBlock",
               "expected x [B, L, dim] and B * L latent angles, got ", x.describe(), " and ", latent_angles.size());
  const int64_t b = x.size(0), l = x.size(1), d = x.size(2);
  const int64_t head_dim = d / heads_;
  const Tensor h = qkv->forward(reshape(norm->forward(x), {b * l, d}));
  // q, k and v as [B, L, H, Dh] views of the packed projection (every sample has L latents); q and
  // k are rotated by their latents' angles inside the attention kernel where it applies.
  auto heads_of = [&](int64_t part) {
    return reshape(split_heads(narrow(h, 1, part * d, d), heads_), {b, l, heads_, head_dim});
  };
  const Tensor merged = reshape(
      rotary_dense_attention(heads_of(0), heads_of(1), heads_of(2), latent_angles.cos, latent_angles.sin), {b * l, d});
  if (drop_path->active()) {
    const Tensor y = add(x, drop_path->forward(reshape(drop->forward(out->forward(merged)), {b, l, d})));
    return add(y, drop_path->forward(ffn->branch(y)));
  }
  const Tensor y = reshape(add_residual_branch(reshape(x, {b * l, d}), *out, *drop, merged), {b, l, d});
  return ffn->forward(y);
}

int64_t latent_block_parameters(int64_t dim, int64_t ffn_hidden) {
  return dim + 3 * dim * dim + (dim * dim + dim) + feed_forward_parameters(dim, ffn_hidden);
}

}  // namespace cortex::nn
