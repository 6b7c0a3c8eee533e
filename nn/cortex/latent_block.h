#pragma once
// One self-attention block over the latent array: pre-RMSNorm -> QKV -> attention (queries
// and keys rotated by the latents' absolute times) -> output projection, then the GELU MLP;
// both with residuals. With a drop-path rate, training drops both branches for whole samples
// (stochastic depth).
#include <memory>

#include "nn/cortex/feed_forward.h"
#include "nn/cortex/rotary.h"
#include "nn/layers/drop_path.h"

namespace cortex::nn {

class LatentBlock : public Module {
 public:
  LatentBlock(int64_t dim, int64_t heads, int64_t ffn_hidden, double dropout, double drop_path, Generator* gen,
              DType dtype, Device device);
  // x [B, L, dim]; latent_angles for the B * L latent times (sample-major).
  Tensor forward(const Tensor& x, const RotaryAngles& latent_angles) const;

  std::shared_ptr<RMSNorm> norm;
  std::shared_ptr<Linear> qkv, out;
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<DropPath> drop_path;
  std::shared_ptr<FeedForward> ffn;

 private:
  int64_t heads_;
};

int64_t latent_block_parameters(int64_t dim, int64_t ffn_hidden);

}  // namespace cortex::nn
