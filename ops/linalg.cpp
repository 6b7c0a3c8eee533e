#include "ops/linalg.h"

#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/kernels.h"
#include "ops/reduce.h"
#include "ops/views.h"

namespace cortex {
namespace {

// [..., R, C] with its batch dims broadcast to `batch`, as a 3-D view [B, R, C]
// (a copy only when the batch dims cannot be folded into one stride).
Tensor as_batched_3d(const Tensor& x, const Shape& batch) {
  Shape full = batch;
  full.push_back(x.size(-2));
  full.push_back(x.size(-1));
  Tensor e = expand_data(x, full);
  const Shape shape3{shape_numel(batch), x.size(-2), x.size(-1)};
  Tensor v = try_reshape_view(e, shape3);
  return v.defined() ? v : try_reshape_view(contiguous_copy(e), shape3);
}

Tensor matmul_nd(const Tensor& a, const Tensor& b) {
  CORTEX_CHECK(a.size(-1) == b.size(-2), "matmul", "inner dims differ: ", a.describe(), " @ ", b.describe());
  const Shape a_batch(a.shape().begin(), a.shape().end() - 2), b_batch(b.shape().begin(), b.shape().end() - 2);
  const Shape batch = broadcast_shapes(a_batch, b_batch, "matmul");
  const int64_t m = a.size(-2), n = b.size(-1);
  Shape out_shape = batch;
  out_shape.push_back(m);
  out_shape.push_back(n);
  Tensor out = empty(out_shape, a.dtype(), a.device());
  if (out.numel() == 0) return out;
  if (a.size(-1) == 0) {
    fill_(out, 0.0);
  } else if (b_batch.empty() && a.dim() > 2) {
    // [..., M, K] @ [K, N]: one GEMM over all rows of a when they fold into one dim.
    Tensor a2 = try_reshape_view(a, {shape_numel(a_batch) * m, a.size(-1)});
    if (!a2.defined()) a2 = try_reshape_view(contiguous_copy(a), {shape_numel(a_batch) * m, a.size(-1)});
    Tensor a3 = a2.view_as_strided({1, a2.size(0), a2.size(1)}, {0, a2.stride(0), a2.stride(1)}, a2.offset());
    Tensor b3 = b.view_as_strided({1, b.size(0), b.size(1)}, {0, b.stride(0), b.stride(1)}, b.offset());
    Tensor o3 = out.view_as_strided({1, a2.size(0), n}, {0, n, 1}, 0);
    matmul_kernel().get(a.device())(a3, b3, o3, false);
  } else {
    Tensor o3 = out.view_as_strided({shape_numel(batch), m, n}, {m * n, n, 1}, 0);
    matmul_kernel().get(a.device())(as_batched_3d(a, batch), as_batched_3d(b, batch), o3, false);
  }
  Tensor ad = a.detach(), bd = b.detach();
  return autograd::record("matmul", out, {a, b}, [ad, bd](const Tensor& g, const autograd::NeedsGrad& needs) {
    return std::vector<Tensor>{
        needs[0] ? sum_to(matmul(g, transpose_data(bd, -1, -2)), ad.shape()) : Tensor(),
        needs[1] ? sum_to(matmul(transpose_data(ad, -1, -2), g), bd.shape()) : Tensor()};
  });
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b) {
  CORTEX_CHECK(a.defined() && b.defined(), "matmul", "undefined operand");
  CORTEX_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul", "operands must have at least one dim, got ", a.describe(),
               " @ ", b.describe());
  CORTEX_CHECK(a.device() == b.device(), "matmul", "operands on different devices: ", a.describe(), " @ ",
               b.describe());
  CORTEX_CHECK(a.dtype() == b.dtype() && is_floating(a.dtype()), "matmul",
               "operands must share a floating dtype, got ", a.describe(), " @ ", b.describe());
  if (a.dim() == 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.dim() == 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  return matmul_nd(a, b);
}

Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias) {
  CORTEX_CHECK(w.dim() == 2, "linear", "weight must be [out, in], got ", w.describe());
  CORTEX_CHECK(x.dim() >= 1 && x.size(-1) == w.size(1), "linear", "input ", x.describe(), " does not match weight ",
               w.describe());
  Tensor y = matmul(x, transpose(w, 0, 1));
  return bias.defined() ? add(y, bias) : y;
}

}  // namespace cortex
