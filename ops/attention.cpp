// Reference scaled dot-product attention composed of matmul, where and softmax, so its
// backward comes from theirs. Masked keys get the dtype's lowest finite score (not -inf):
// a query whose keys are all masked then sees a finite uniform row, which the second
// `where` zeroes, so neither its output nor any gradient becomes NaN.
#include <cmath>

#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex {
namespace {

double lowest_finite(DType dtype) {
  switch (dtype) {
    case DType::f64: return -1.7976931348623157e308;
    case DType::f32: return -3.4028234663852886e38;
    case DType::bf16: return -3.3895313892515355e38;
    case DType::f16: return -65504.0;
    default: CORTEX_FAIL("scaled_dot_product_attention", "expected a floating dtype, got ", dtype_name(dtype));
  }
}

void check_operands(const Tensor& q, const Tensor& k, const Tensor& v) {
  const char* op = "scaled_dot_product_attention";
  CORTEX_CHECK(q.defined() && k.defined() && v.defined(), op, "undefined q, k or v");
  CORTEX_CHECK(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, op, "q, k, v need [..., L, D], got ", q.describe(),
               ", ", k.describe(), ", ", v.describe());
  CORTEX_CHECK(is_floating(q.dtype()) && q.dtype() == k.dtype() && q.dtype() == v.dtype(), op,
               "q, k, v must share a floating dtype, got ", q.describe(), ", ", k.describe(), ", ", v.describe());
  CORTEX_CHECK(q.device() == k.device() && q.device() == v.device(), op, "q, k, v on different devices: ",
               q.describe(), ", ", k.describe(), ", ", v.describe());
  CORTEX_CHECK(q.size(-1) == k.size(-1) && q.size(-1) > 0, op, "q ", q.describe(), " and k ", k.describe(),
               " need the same non-zero head dim");
  CORTEX_CHECK(k.size(-2) == v.size(-2), op, "k ", k.describe(), " and v ", v.describe(),
               " need the same number of keys");
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const Tensor& key_padding_mask, double scale) {
  const char* op = "scaled_dot_product_attention";
  check_operands(q, k, v);
  const double s = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  Tensor scores = mul(matmul(q, transpose(k, -1, -2)), s);
  if (!key_padding_mask.defined()) return matmul(softmax(scores, -1), v);

  const Tensor& mask = key_padding_mask;
  CORTEX_CHECK(mask.dtype() == DType::boolean, op, "key_padding_mask must be bool, got ", mask.describe());
  CORTEX_CHECK(mask.device() == q.device(), op, "key_padding_mask ", mask.describe(), " and q ", q.describe(),
               " on different devices");
  CORTEX_CHECK(mask.dim() >= 1 && mask.size(-1) == k.size(-2), op, "key_padding_mask ", mask.describe(),
               " must end in the number of keys ", k.size(-2));
  // [..., Lk] -> [..., 1, Lk]: one row of the mask serves every query.
  Tensor per_query = unsqueeze(mask.detach(), -2);
  // Same rank as the scores: a [B, Lk] mask for [B, H, Lq, Lk] scores would otherwise align
  // B with H and, when B == H, mask the wrong rows without complaint.
  CORTEX_CHECK(per_query.dim() == scores.dim() &&
                   broadcast_shapes(per_query.shape(), scores.shape(), op) == scores.shape(),
               op, "key_padding_mask ", mask.describe(), " does not match the scores ", shape_str(scores.shape()),
               ": expected one dim per batch dim of q (size 1 to broadcast) followed by Lk, e.g. [B, 1, Lk] for q "
               "[B, H, Lq, D]");
  Tensor lowest = full({}, lowest_finite(q.dtype()), q.dtype(), q.device());
  Tensor probs = softmax(where(per_query, lowest, scores), -1);
  probs = where(per_query, zeros({}, q.dtype(), q.device()), probs);
  return matmul(probs, v);
}

}  // namespace cortex
