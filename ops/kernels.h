#pragma once
// The device contract: every kernel an op may call, one table each. The CPU versions in
// ops/cpu/ are the reference; cuda/kernels/ registers the GPU versions. Kernels receive
// outputs already allocated with the right shape and dtype, and validated inputs; views
// may have any strides unless the comment says "contiguous".
#include <vector>

#include "engine/dispatch.h"
#include "engine/tensor.h"

namespace cortex {

enum class UnaryOp : uint8_t {
  neg, exp, log, sqrt, rsqrt, tanh, sigmoid, relu, gelu, silu, abs, square, reciprocal, sign,
  add_scalar,  // x + alpha
  mul_scalar,  // x * alpha
  pow_scalar,  // x ^ alpha
  rsub_scalar, // alpha - x
  clamp_min,   // max(x, alpha)
  clamp_max,   // min(x, alpha)
};
// out = op(x, alpha); x and out have the same shape and dtype.
CORTEX_KERNEL_TABLE(unary_kernel, void(UnaryOp op, const Tensor& x, double alpha, const Tensor& out));

enum class BinaryOp : uint8_t {
  add, sub, mul, div, pow, maximum, minimum,
  eq, ne, lt, le, gt, ge,  // out is bool
  // Derivatives for backward: out = b * f'(a) where a is the forward input (or output, noted).
  relu_backward, gelu_backward, silu_backward,
  sigmoid_backward,  // a = sigmoid output
  tanh_backward,     // a = tanh output
};
// out = op(a, b); a, b and out have the output's shape (broadcast inputs arrive as
// expanded views with zero strides) and a, b share a dtype.
CORTEX_KERNEL_TABLE(binary_kernel, void(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out));
// out = cond ? a : b, all the same shape; cond is bool.
CORTEX_KERNEL_TABLE(where_kernel, void(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out));

enum class ReduceOp : uint8_t { sum, max, min };
// out has x's rank with size 1 in every reduced dim; dims are sorted and unique.
// Floating sums accumulate in f32 (f64 for f64).
CORTEX_KERNEL_TABLE(reduce_kernel, void(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out));
// Index of the largest element along dim (first one on ties); out is i64 with size 1 at dim.
CORTEX_KERNEL_TABLE(argmax_kernel, void(const Tensor& x, int64_t dim, const Tensor& out));

// out[b] = a[b] @ bm[b] (+ out[b] when accumulate) for 3-D views [B,M,K] x [B,K,N] -> [B,M,N].
// Transposes arrive as strides; a zero batch stride broadcasts an operand.
CORTEX_KERNEL_TABLE(matmul_kernel, void(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate));

// Softmax (or log-softmax) over the last dim of contiguous x.
CORTEX_KERNEL_TABLE(softmax_kernel, void(const Tensor& x, const Tensor& out, bool log));
// gx from y = softmax(x) (or log_softmax) and gy; all contiguous.
CORTEX_KERNEL_TABLE(softmax_backward_kernel, void(const Tensor& y, const Tensor& gy, const Tensor& gx, bool log));

// RMSNorm over the last dim of contiguous x [R, C]: y = x * rstd * w; rstd [R] is f32.
CORTEX_KERNEL_TABLE(rmsnorm_kernel, void(const Tensor& x, const Tensor& w, double eps, const Tensor& y, const Tensor& rstd));
// gx [R, C] and gw [C] (f32 accumulation, written not added).
CORTEX_KERNEL_TABLE(rmsnorm_backward_kernel, void(const Tensor& x, const Tensor& w, const Tensor& rstd,
                                                  const Tensor& gy, const Tensor& gx, const Tensor& gw));
// LayerNorm over the last dim: y = (x - mean) * rstd * w + b; mean, rstd [R] are f32.
CORTEX_KERNEL_TABLE(layernorm_kernel, void(const Tensor& x, const Tensor& w, const Tensor& b, double eps,
                                           const Tensor& y, const Tensor& mean, const Tensor& rstd));
CORTEX_KERNEL_TABLE(layernorm_backward_kernel,
                    void(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, const Tensor& gy,
                         const Tensor& gx, const Tensor& gw, const Tensor& gb));

// Packed variable-length attention: sample b's queries, rows [q_offsets[b], q_offsets[b+1]) of
// q and out [Nq, H, D], attend to its keys, rows [k_offsets[b], k_offsets[b+1]) of k and v
// [Nk, H, D]: out = softmax(q k^T * scale) v per sample and head. All contiguous, one dtype;
// offsets are validated host vectors of B+1 entries (from 0, non-decreasing, ending at Nq
// and Nk). lse [Nq, H] (f32; f64 for f64 inputs) gets the natural log-sum-exp of each row's
// scaled scores. A sample without keys gets out = 0 and lse = 0.
CORTEX_KERNEL_TABLE(segmented_attention_kernel,
                    void(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k, const Tensor& v,
                         const std::vector<int64_t>& k_offsets, double scale, const Tensor& out, const Tensor& lse));
// Its gradients from the forward's out and lse and gout (all contiguous): gq, gk, gv written
// (zero for rows whose sample has no keys, resp. no queries), deterministically.
CORTEX_KERNEL_TABLE(segmented_attention_backward_kernel,
                    void(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k, const Tensor& v,
                         const std::vector<int64_t>& k_offsets, double scale, const Tensor& out, const Tensor& lse,
                         const Tensor& gout, const Tensor& gq, const Tensor& gk, const Tensor& gv));
// Inference variant whose key offsets stay on the device, so a captured CUDA graph can be
// replayed with another packing: q and out [B * Lq, H, D], sample b owning query rows
// [b * Lq, (b + 1) * Lq), k and v [Nk, H, D] (Nk a capacity: rows past the last offset are
// never read), k_offsets i32/i64 [B + 1] on the same device; sample b attends to key rows
// [k_offsets[b], k_offsets[b + 1]). All contiguous; out written (0 for a sample without keys).
// Bad offsets never read outside k: sample b reads rows [lo, hi) with lo = k_offsets[b]
// clamped into [0, Nk] and hi = k_offsets[b + 1] clamped into [lo, Nk] (the CPU op rejects
// bad offsets first; on the GPU that would need a host read).
CORTEX_KERNEL_TABLE(segmented_attention_device_offsets_kernel,
                    void(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& k_offsets, double scale,
                         const Tensor& out));

// cos and sin of every product angle[i][k] = t[i] * w[k], computed in f64 and rounded once to
// the outputs' dtype: t f64 [N], w f64 [F], cos and sin [N, F] (any floating dtype), all
// contiguous, written.
CORTEX_KERNEL_TABLE(outer_cos_sin_kernel, void(const Tensor& t, const Tensor& w, const Tensor& cos, const Tensor& sin));

// Rotary embedding: x [N, H, Dh] and cos, sin [N, H, F] (broadcast dims arrive with zero
// strides) with any strides, one floating dtype, 2F <= Dh; out contiguous [N, H, Dh], written:
// out[..., k] = x1 c - x2 s and out[..., F + k] = x2 c + x1 s (x1 = x[..., k], x2 = x[..., F + k];
// s negated when inverse), out[..., 2F:] = x[..., 2F:]. Each product is rounded to math_t (f32,
// f64 for f64) before the sum, no fused multiply-add, so every backend gives the same bits in f32.
CORTEX_KERNEL_TABLE(rotary_kernel, void(const Tensor& x, const Tensor& cos, const Tensor& sin, bool inverse,
                                        const Tensor& out));

// out = x.index_select(dim, idx): out has x's shape with idx.numel() at dim; idx is i32/i64,
// already checked to lie in range.
CORTEX_KERNEL_TABLE(index_select_kernel, void(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& out));
// out.index_select(dim, idx) += src, summing repeated indices (the embedding backward);
// deterministic: the result does not depend on thread scheduling.
CORTEX_KERNEL_TABLE(index_add_kernel, void(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src));
// out[i][j] = x[i][idx[i][j]] along dim (idx has out's shape).
CORTEX_KERNEL_TABLE(gather_kernel, void(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& out));
// out[i][idx[i][j]] += src[i][j] along dim.
CORTEX_KERNEL_TABLE(scatter_add_kernel, void(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src));

// One AdamW step (decoupled weight decay) for a list of tensors sharing hyperparameters
// and step count, so a backend can fuse them into one multi-tensor launch:
//   p -= lr * wd * p;  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//   p -= lr * (m / (1-b1^step)) / (sqrt(v / (1-b2^step)) + eps)
// params[i] (f32, f64 or bf16/f16) is updated in place from grads[i] (any floating
// dtype); exp_avg/exp_avg_sq are f32 (f64 for f64 params) and the math runs in their
// precision. Where model_copies[i] is defined, params[i] is the f32 master of a 16-bit
// model weight and the kernel also writes the rounded result into model_copies[i]. All contiguous, same shape per index,
// same device; model_copies is empty or as long as params.
struct AdamWHyper {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;  // 1 on the first update
};
CORTEX_KERNEL_TABLE(adamw_kernel, void(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                                       const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                                       const std::vector<Tensor>& model_copies, const AdamWHyper& h));

}  // namespace cortex
