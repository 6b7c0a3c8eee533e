#pragma once
// Neural-network ops: forward on every device through ops/kernels.h, backward as closures.
#include <utility>

#include "engine/generator.h"
#include "engine/tensor.h"

namespace cortex {

// Softmax / log-softmax over `dim` (statistics in f32 for 16-bit inputs).
Tensor softmax(const Tensor& x, int64_t dim = -1);
Tensor log_softmax(const Tensor& x, int64_t dim = -1);

// Normalisation over the last dim. weight (and bias) have shape [x.size(-1)].
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);

// Inverted dropout: zeroes elements with probability p and scales the rest by 1/(1-p);
// the identity when !training or p == 0. The mask comes from the Philox stream of gen.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

// Rows of `table` [V, D] picked by integer `ids` (any shape): result ids.shape + [D].
// Ids outside [0, V) raise an error naming the first bad id. Backward scatter-adds into the table.
Tensor embedding(const Tensor& ids, const Tensor& table);

// embedding for fixed-shape inference (CUDA graph captures): the ids are range-checked only
// where the host can read them without waiting for the device (CPU tensors). On a GPU the
// caller must have checked them when it built them (an out-of-range id reads outside the
// table). No backward: a table that would record autograd history is refused.
Tensor embedding_trusted(const Tensor& ids, const Tensor& table);

// cos and sin of the angles t[i] * w[k] (rotary embeddings of times): t f64 [N], w f64 [F]
// (f64 so large times keep their phase), computed in f64 on the tensors' device and rounded
// once to `dtype`: the host's std::cos/std::sin of the same products, to the rounding of
// `dtype`. Returns {cos, sin}, each [N, F]. No backward.
std::pair<Tensor, Tensor> outer_cos_sin(const Tensor& t, const Tensor& w, DType dtype);

// Rotary embedding in one pass: x [N, H, Dh] (any strides) with cos, sin of shape [N, 1, F]
// (anything broadcastable to [N, H, F]: [F], [1, F], [N, H, F], ...), 2F <= Dh, all one
// floating dtype and device. Channels [0, F) and [F, 2F) rotate as pairs
// (x1, x2) -> (x1 cos - x2 sin, x2 cos + x1 sin); inverse flips the sign of sin; channels
// [2F, Dh) pass through. Returns a contiguous [N, H, Dh] in x's dtype; math in f32 (f64 for
// f64). Backward to x only (the rotation is orthogonal: gx = rotary(gy, cos, sin, !inverse));
// cos and sin are angles of times, never trained, and are refused if they require a gradient.
Tensor rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool inverse = false);

// softmax(q k^T * scale + mask) v for q [..., Lq, D], k [..., Lk, D], v [..., Lk, Dv].
// key_padding_mask (optional, bool [..., Lk] broadcastable over the query dim): true marks
// a padded key that no query may attend to. A query whose keys are all masked gets zeros.
// scale defaults to 1/sqrt(D) when <= 0. Reference version composed of matmul and softmax.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& key_padding_mask = Tensor(), double scale = 0.0);

// Attention over packed samples of different lengths, in one fused op: q [Nq, H, D], k and
// v [Nk, H, D] (any strides); sample b owns query rows [q_offsets[b], q_offsets[b+1]) and key
// rows [k_offsets[b], k_offsets[b+1]) (host vectors of B+1 entries from 0, non-decreasing,
// ending at Nq and Nk). Returns [Nq, H, D]: softmax(q k^T * scale) v per sample and head;
// a sample without keys gets zeros (and passes no gradient). scale 0 means 1/sqrt(D).
// f32/bf16/f16 (and f64 on the CPU); the CUDA kernels take D <= 128.
Tensor segmented_attention(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k, const Tensor& v,
                           const std::vector<int64_t>& k_offsets, double scale = 0.0);

// segmented_attention for inference with fixed shapes (CUDA graph replays): the key offsets
// are a tensor on the operands' device, read by the kernel, never by the host. k_offsets
// i32/i64 [B + 1]: sample b attends to key rows [k_offsets[b], k_offsets[b + 1]) of k and v
// [Nk, H, D], where Nk may exceed k_offsets[B] (a capacity; the rows past it are ignored,
// whatever they hold). Every sample has the same number of queries: q [B * Lq, H, D], sample
// b's rows [b * Lq, (b + 1) * Lq). Returns [B * Lq, H, D]. On the CPU the offsets are checked
// (0 <= k_offsets[0] <= ... <= k_offsets[B] <= Nk); on the GPU they cannot be without a
// host read, and out-of-range ones are clamped into [0, Nk]. No backward: inputs that would
// record autograd history are refused.
Tensor segmented_attention_device_offsets(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& k_offsets,
                                          double scale = 0.0);

}  // namespace cortex
