#include "nn/baselines/transformer.h"

#include <cmath>

#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex::nn {

Tensor causal_attention(const Tensor& q, const Tensor& k, const Tensor& v) {
  CORTEX_CHECK(q.dim() >= 2 && q.shape() == k.shape() && k.size(-2) == v.size(-2), "causal_attention",
               "expected q, k [..., T, D] of one shape and v [..., T, Dv], got ", q.describe(), ", ", k.describe(),
               ", ", v.describe());
  const int64_t t = q.size(-2);
  const Tensor scores = mul(matmul(q, transpose(k, -1, -2)), 1.0 / std::sqrt(static_cast<double>(q.size(-1))));
  // future[i][j] = j > i, built on the device from two index ramps.
  const Tensor rows = reshape(arange(t, DType::i64, q.device()), {t, 1});
  const Tensor cols = reshape(arange(t, DType::i64, q.device()), {1, t});
  const Tensor future = lt(rows, cols);
  // The lowest finite value, not -inf: the diagonal is never masked, so every row keeps a
  // finite maximum and the softmax gives masked keys exactly zero weight.
  const double lowest = q.dtype() == DType::f16 ? -65504.0 : -3.0e38;
  const Tensor masked = where(future, full({}, lowest, q.dtype(), q.device()), scores);
  return matmul(softmax(masked, -1), v);
}

TransformerBlock::TransformerBlock(int64_t dim, int64_t heads, int64_t ffn_hidden, double dropout, Generator* gen,
                                   DType dtype, Device device)
    : heads_(heads) {
  norm1 = register_module("norm1", std::make_shared<LayerNorm>(dim, 1e-5, true, dtype, device));
  qkv = register_module("qkv", std::make_shared<Linear>(dim, 3 * dim, true, gen, dtype, device));
  out = register_module("out", std::make_shared<Linear>(dim, dim, true, gen, dtype, device));
  norm2 = register_module("norm2", std::make_shared<LayerNorm>(dim, 1e-5, true, dtype, device));
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, ffn_hidden, true, gen, dtype, device));
  fc2 = register_module("fc2", std::make_shared<Linear>(ffn_hidden, dim, true, gen, dtype, device));
  drop = register_module("drop", std::make_shared<Dropout>(dropout, gen));
}

Tensor TransformerBlock::forward(const Tensor& x, bool causal) const {
  const int64_t b = x.size(0), t = x.size(1), d = x.size(2), dh = d / heads_;
  const Tensor h = qkv->forward(norm1->forward(x));  // [B, T, 3D]
  // [B, T, D] slice -> [B, H, T, Dh]
  auto heads = [&](int64_t i) { return permute(reshape(narrow(h, 2, i * d, d), {b, t, heads_, dh}), {0, 2, 1, 3}); };
  const Tensor a = causal ? causal_attention(heads(0), heads(1), heads(2))
                          : scaled_dot_product_attention(heads(0), heads(1), heads(2));
  const Tensor merged = reshape(permute(a, {0, 2, 1, 3}), {b, t, d});
  const Tensor y = add(x, drop->forward(out->forward(merged)));
  return add(y, drop->forward(fc2->forward(gelu(fc1->forward(norm2->forward(y))))));
}

TransformerDecoder::TransformerDecoder(const TransformerConfig& config, Generator* gen, DType dtype, Device device)
    : config_(config) {
  config.validate();
  const int64_t d = config.dim;
  input = register_module("input", std::make_shared<Linear>(config.units, d, true, gen, dtype, device));
  position = register_parameter("position", normal({config.max_bins, d}, 0.0, 0.02, dtype, device, gen));
  blocks = register_module("blocks", std::make_shared<ModuleList>());
  for (int64_t i = 0; i < config.depth; ++i)
    blocks->push_back(
        std::make_shared<TransformerBlock>(d, config.heads, config.ffn_mult * d, config.dropout, gen, dtype, device));
  norm = register_module("norm", std::make_shared<LayerNorm>(d, 1e-5, true, dtype, device));
  drop = register_module("drop", std::make_shared<Dropout>(config.dropout, gen));
  readout = register_module("readout", std::make_shared<Linear>(d, config.outputs, true, gen, dtype, device));
}

Tensor TransformerDecoder::forward(const Tensor& counts) const {
  CORTEX_CHECK(counts.defined() && counts.dim() == 3 && counts.size(2) == config_.units, "TransformerDecoder",
               "expected counts [B, T, ", config_.units, "], got ", describe(counts));
  CORTEX_CHECK(counts.size(1) <= config_.max_bins, "TransformerDecoder", counts.size(1),
               " bins exceed the learned positions (max_bins ", config_.max_bins, ")");
  const DType dtype = readout->weight.dtype();
  const Tensor c = counts.dtype() == dtype ? counts : cortex::to(counts, dtype);
  Tensor x = drop->forward(add(input->forward(c), narrow(position, 0, 0, counts.size(1))));
  for (size_t i = 0; i < blocks->size(); ++i) x = blocks->get<TransformerBlock>(i)->forward(x, config_.causal);
  return readout->forward(norm->forward(x));
}

int64_t transformer_parameter_count(const TransformerConfig& c) {
  const int64_t d = c.dim, f = c.ffn_mult * d;
  const int64_t block = 2 * d + (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d);
  return (c.units * d + d) + c.max_bins * d + c.depth * block + 2 * d + (d * c.outputs + c.outputs);
}

}  // namespace cortex::nn
