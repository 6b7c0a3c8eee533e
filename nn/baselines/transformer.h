#pragma once
// The vanilla transformer baseline: one token per bin (a linear map of the bin's spike
// counts plus a learned position), pre-LayerNorm blocks of multi-head attention and a GELU
// MLP, and a linear read-out per token. The causal protocol masks attention to later bins.
#include <memory>

#include "nn/layers/dropout.h"
#include "nn/layers/linear.h"
#include "nn/layers/norm.h"
#include "nn/model_config.h"
#include "nn/module.h"

namespace cortex::nn {

// softmax(q k^T / sqrt(D)) v for q, k, v [..., T, D] with key j hidden from query i when j > i.
Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v);

class TransformerBlock : public Module {
 public:
  TransformerBlock(int64_t dim, int64_t heads, int64_t ffn_hidden, double dropout, Generator* gen, DType dtype,
                   Device device);
  Tensor forward(const Tensor& x, bool causal) const;  // [B, T, dim]

  std::shared_ptr<LayerNorm> norm1, norm2;
  std::shared_ptr<Linear> qkv, out, fc1, fc2;
  std::shared_ptr<Dropout> drop;

 private:
  int64_t heads_;
};

class TransformerDecoder : public Module {
 public:
  explicit TransformerDecoder(const TransformerConfig& config, Generator* gen = nullptr, DType dtype = DType::f32,
                              Device device = Device::cpu());
  // counts [B, T, units] (T <= max_bins) -> behaviour [B, T, outputs].
  Tensor forward(const Tensor& counts) const;
  const TransformerConfig& config() const { return config_; }

  std::shared_ptr<Linear> input;
  Tensor position;  // [max_bins, dim]
  std::shared_ptr<ModuleList> blocks;
  std::shared_ptr<LayerNorm> norm;
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<Linear> readout;

 private:
  TransformerConfig config_;
};

int64_t transformer_parameter_count(const TransformerConfig& config);

}  // namespace cortex::nn
