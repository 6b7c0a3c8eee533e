#include "ops/dense_attention.h"

#include <cmath>
#include <cstdint>

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex {
namespace {

constexpr const char* kOp = "dense_attention";
constexpr int64_t kInt32Max = 2147483647;  // the kernel's token indices are 32-bit

void check_operands(const Tensor& q, const Tensor& k, const Tensor& v) {
  CORTEX_CHECK(q.defined() && k.defined() && v.defined(), kOp, "undefined q, k or v");
  CORTEX_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, kOp,
               "expected q [B, Lq, H, D] and k, v [B, Lk, H, D], got q ", q.describe(), ", k ", k.describe(), ", v ",
               v.describe());
  CORTEX_CHECK(k.shape() == v.shape() && q.size(0) == k.size(0) && q.size(2) == k.size(2) && q.size(3) == k.size(3),
               kOp, "q, k and v must share batch, heads and head dim, and k and v their keys: q ", q.describe(),
               ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(q.size(3) > 0, kOp, "head dim must be positive, got q ", q.describe());
  CORTEX_CHECK(is_floating(q.dtype()) && q.dtype() == k.dtype() && q.dtype() == v.dtype(), kOp,
               "q, k, v must share a floating dtype, got q ", q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(q.device() == k.device() && q.device() == v.device(), kOp, "q, k, v on different devices: q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe());
}

// Last dim contiguous; the other strides and the first element's address in 16-byte units.
bool sixteen_byte_rows(const Tensor& t) {
  const int64_t item = static_cast<int64_t>(t.itemsize());
  if (t.stride(3) != 1 && t.size(3) != 1) return false;
  for (int d = 0; d < 3; ++d)
    if (t.size(d) > 1 && (t.stride(d) * item) % 16 != 0) return false;
  return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0;
}

// cos and sin as the kernel reads them: contiguous [B * L, F] rows; undefined when they are not.
Tensor angle_rows(const Tensor& angles) {
  if (angles.dim() == 3 && angles.size(1) == 1)
    return angles.is_contiguous() ? reshape(angles, {angles.size(0), angles.size(2)}) : Tensor();
  return angles.dim() == 2 && angles.is_contiguous() ? angles : Tensor();
}

}  // namespace

bool dense_attention_fused_fits(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos,
                                const Tensor& sin) {
  const DType dt = q.dtype();
  const int64_t d = q.size(3);
  const bool operands = (dt == DType::bf16 || dt == DType::f16) && (d == 32 || d == 64 || d == 128) &&
                        k.size(1) > 0 && q.numel() > 0 && sixteen_byte_rows(q) && sixteen_byte_rows(k) &&
                        sixteen_byte_rows(v) && q.size(1) < kInt32Max && k.size(1) < kInt32Max;
  if (!operands || (!cos.defined() && !sin.defined())) return operands;
  const Tensor c = cos.defined() ? angle_rows(cos) : Tensor(), s = sin.defined() ? angle_rows(sin) : Tensor();
  if (!c.defined() || !s.defined() || c.shape() != s.shape() || c.dtype() != dt || s.dtype() != dt) return false;
  const int64_t f = c.size(1);
  return q.size(1) == k.size(1) && c.size(0) == q.size(0) * q.size(1) && f % 8 == 0 && 2 * f <= d &&
         reinterpret_cast<uintptr_t>(c.data_ptr()) % 16 == 0 && reinterpret_cast<uintptr_t>(s.data_ptr()) % 16 == 0;
}

namespace {

double scale_or_default(double scale, const Tensor& q) {
  return scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(3)));
}

bool records_grad(const Tensor& q, const Tensor& k, const Tensor& v) {
  return grad_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
}

}  // namespace

Tensor dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  check_operands(q, k, v);
  const double s = scale_or_default(scale, q);
  if (!records_grad(q, k, v) && dense_attention_kernel().has(q.device().type) && dense_attention_fused_fits(q, k, v)) {
    Tensor out = empty(q.shape(), q.dtype(), q.device());
    dense_attention_kernel().get(q.device())(q, k, v, Tensor(), Tensor(), s, out);
    return out;
  }
  const std::vector<int64_t> head_major{0, 2, 1, 3};
  const Tensor a = scaled_dot_product_attention(permute(q, head_major), permute(k, head_major),
                                                permute(v, head_major), Tensor(), s);
  return permute(a, head_major);
}

Tensor rotary_dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                              double scale) {
  check_operands(q, k, v);
  const int64_t b = q.size(0), l = q.size(1), h = q.size(2), d = q.size(3);
  CORTEX_CHECK(k.size(1) == l, "rotary_dense_attention", "is self-attention: q and k need the same tokens, got q ",
               q.describe(), ", k ", k.describe());
  CORTEX_CHECK(cos.defined() && sin.defined() && (cos.dim() == 2 || (cos.dim() == 3 && cos.size(1) == 1)) &&
                   cos.shape() == sin.shape() && cos.size(0) == b * l,
               "rotary_dense_attention", "cos and sin must be [B * L, 1, F] or [B * L, F] with B * L = ", b * l,
               ", got cos ", describe(cos), ", sin ", describe(sin));
  const double s = scale_or_default(scale, q);
  if (!records_grad(q, k, v) && dense_attention_kernel().has(q.device().type) &&
      dense_attention_fused_fits(q, k, v, cos, sin)) {
    Tensor out = empty(q.shape(), q.dtype(), q.device());
    dense_attention_kernel().get(q.device())(q, k, v, angle_rows(cos), angle_rows(sin), s, out);
    return out;
  }
  const int64_t f = cos.size(-1);
  const Tensor c = reshape(cos, {b * l, 1, f}), sn = reshape(sin, {b * l, 1, f});
  auto rotated = [&](const Tensor& x) { return reshape(rotary(reshape(x, {b * l, h, d}), c, sn), {b, l, h, d}); };
  return dense_attention(rotated(q), rotated(k), v, s);
}

}  // namespace cortex
