#pragma once
// Attention over packed samples: queries and keys of all samples end to end, each sample
// attending only to its own segment of keys (no padding to the longest sample).
#include "engine/tensor.h"
#include "nn/cortex/segments.h"

namespace cortex::nn {

// [N, H * Dh] <-> [N, H, Dh]
Tensor split_heads(const Tensor& x, int64_t heads);
Tensor merge_heads(const Tensor& x);

// q [Nq, H, Dh] with per-sample segments qs; k, v [Nk, H, Dh] with segments ks (as many
// samples). Returns [Nq, H, Dh]: softmax(q k^T / sqrt(Dh)) v per sample and head. A sample
// without keys gets zeros. One fused op (ops/nn_ops.h) for the whole batch.
Tensor segmented_attention(const Tensor& q, const Segments& qs, const Tensor& k, const Tensor& v, const Segments& ks);

}  // namespace cortex::nn
