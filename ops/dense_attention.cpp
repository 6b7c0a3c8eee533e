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

}  // namespace

bool dense_attention_fused_fits(const Tensor& q, const Tensor& k, const Tensor& v) {
  const DType dt = q.dtype();
  const int64_t d = q.size(3);
  return (dt == DType::bf16 || dt == DType::f16) && (d == 32 || d == 64 || d == 128) && k.size(1) > 0 &&
         q.numel() > 0 && sixteen_byte_rows(q) && sixteen_byte_rows(k) && sixteen_byte_rows(v) &&
         dense_attention_shared_bytes(k.size(1), d, static_cast<int64_t>(q.itemsize())) <=
             kDenseAttentionMaxSharedBytes;
}

Tensor dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  check_operands(q, k, v);
  const double s = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  const bool records_grad = grad_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  if (!records_grad && dense_attention_kernel().has(q.device().type) && dense_attention_fused_fits(q, k, v)) {
    Tensor out = empty(q.shape(), q.dtype(), q.device());
    dense_attention_kernel().get(q.device())(q, k, v, s, out);
    return out;
  }
  const std::vector<int64_t> head_major{0, 2, 1, 3};
  const Tensor a = scaled_dot_product_attention(permute(q, head_major), permute(k, head_major),
                                                permute(v, head_major), Tensor(), s);
  return permute(a, head_major);
}

}  // namespace cortex
