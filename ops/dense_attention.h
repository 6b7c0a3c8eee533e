#pragma once
// Attention over equal-length samples in token-major layout: q [B, Lq, H, D] and k, v
// [B, Lk, H, D] (as a GEMM's [B * L, H * D] output reshapes for free), out [B, Lq, H, D]
// contiguous, so merging the heads back is a free reshape too. The batched composition
// (scaled_dot_product_attention on [B, H, L, D]) needs a copy of each operand into head-major
// order and another of the result; the fused CUDA kernel reads the strided operands directly
// and keeps the scores on chip.
//
// The op runs the fused kernel only where it exists, no gradient is being recorded, and
// dense_attention_fused_fits() holds; everywhere else it is the composition (which is also
// its reference and its backward).
#include "engine/dispatch.h"
#include "engine/tensor.h"

namespace cortex {

// out = softmax(q k^T * scale) v per sample and head, written contiguous [B, Lq, H, D]. With
// cos and sin defined (contiguous [B * L, F], Lq = Lk = L), q and k are first rotated as
// rotary(x, cos, sin) rotates them (channel pairs (i, F + i), each rotated value rounded to
// the dtype), by the angles of their own token, inside the kernel.
// Preconditions (checked by the op, rechecked by the kernel): bf16 or f16; D one of 32, 64,
// 128; the last dim contiguous; every other stride and each data pointer a multiple of 16
// bytes; fewer than 2^31 tokens; with angles, F a multiple of 8 with 2F <= D.
CORTEX_KERNEL_TABLE(dense_attention_kernel, void(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos,
                                                 const Tensor& sin, double scale, const Tensor& out));

// The CUDA kernel's thread block: 64 queries (4 warps of 16 rows), keys and values streamed
// through shared memory 64 at a time, two tiles in flight.
constexpr int64_t kDenseAttentionQueryTile = 64;
constexpr int64_t kDenseAttentionKeyTile = 64;

// Shared memory of one block: its queries and two stages of a K and a V tile, in rows padded
// by 16 bytes so that the 8 rows of an ldmatrix start in different banks, and with angles
// their cos and sin rows (F each). Independent of the key count, so any Lk fits.
inline int64_t dense_attention_shared_bytes(int64_t d, int64_t itemsize, int64_t angle_freqs = 0) {
  const int64_t pitch = d + 16 / itemsize;
  const int64_t tiles = (kDenseAttentionQueryTile + 4 * kDenseAttentionKeyTile) * pitch * itemsize;
  return tiles + (kDenseAttentionQueryTile + 2 * kDenseAttentionKeyTile) * 2 * angle_freqs * itemsize;
}

// Whether q, k and v (and, where defined, cos and sin) meet the fused kernel's preconditions
// above (any device).
bool dense_attention_fused_fits(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos = Tensor(),
                                const Tensor& sin = Tensor());

// scale <= 0 means 1 / sqrt(D).
Tensor dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale = 0);

// dense_attention(rotary(q), rotary(k), v) for self-attention: q, k, v [B, L, H, D], cos and
// sin [B * L, 1, F] or [B * L, F] (as nn::RotaryAngles holds them), the angles of each token.
// The fused kernel rotates q and k as it stages them, saving a rotary pass over both.
Tensor rotary_dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                              double scale = 0);

}  // namespace cortex
