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

// out = softmax(q k^T * scale) v per sample and head, written contiguous [B, Lq, H, D].
// Preconditions (checked by the op, rechecked by the kernel): bf16 or f16; D one of 32, 64,
// 128; the last dim contiguous; every other stride and each data pointer a multiple of 16
// bytes; dense_attention_shared_bytes(Lk, D, itemsize) within the device's 227 KiB.
CORTEX_KERNEL_TABLE(dense_attention_kernel, void(const Tensor& q, const Tensor& k, const Tensor& v, double scale,
                                                 const Tensor& out));

// Queries per thread block of the CUDA kernel: 128 (8 warps of 16 rows) where that block's
// shared memory fits, else 64 (4 warps).
constexpr int64_t kDenseAttentionQueryTile = 64;
constexpr int64_t kDenseAttentionWideQueryTile = 128;
constexpr int64_t kDenseAttentionMaxSharedBytes = 227 * 1024;

// Keys rounded up to the tensor-core tile.
inline int64_t dense_attention_padded_keys(int64_t lk) { return (lk + 15) / 16 * 16; }

// Shared-memory rows are padded by 16 bytes so that consecutive rows of an MMA tile start in
// different banks (unpadded 128-byte rows put all 16 rows of a tile load on the same banks).
inline int64_t dense_attention_tile_pitch(int64_t d, int64_t itemsize) { return d + 16 / itemsize; }

// f32 words per query row of a block's scratch (its scores, later its output row), padded.
inline int64_t dense_attention_row_words(int64_t lk, int64_t d) {
  const int64_t keys = dense_attention_padded_keys(lk);
  return (keys > d ? keys : d) + 4;
}

// Shared memory of one block: K and V tiles of every key, the block's queries, and one f32
// scratch row per query (scores, then the probabilities written over them in place, then
// the output row before it is normalised).
inline int64_t dense_attention_shared_bytes(int64_t lk, int64_t d, int64_t itemsize,
                                            int64_t query_tile = kDenseAttentionQueryTile) {
  const int64_t keys = dense_attention_padded_keys(lk), pitch = dense_attention_tile_pitch(d, itemsize);
  return (2 * keys + query_tile) * pitch * itemsize + query_tile * dense_attention_row_words(lk, d) * 4;
}

// Whether q, k and v meet the fused kernel's preconditions above (any device).
bool dense_attention_fused_fits(const Tensor& q, const Tensor& k, const Tensor& v);

// scale <= 0 means 1 / sqrt(D).
Tensor dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale = 0);

}  // namespace cortex
