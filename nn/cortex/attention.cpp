#include "nn/cortex/attention.h"

#include "ops/nn_ops.h"
#include "ops/shape_ops.h"
#include "ops/views.h"

namespace cortex::nn {

Tensor split_heads(const Tensor& x, int64_t heads) {
  CORTEX_CHECK(x.dim() == 2 && x.size(1) % heads == 0, "split_heads", "expected [N, heads * head_dim] with ", heads,
               " heads, got ", x.describe());
  return reshape(x, {x.size(0), heads, x.size(1) / heads});
}

Tensor merge_heads(const Tensor& x) {
  CORTEX_CHECK(x.dim() == 3, "merge_heads", "expected [N, heads, head_dim], got ", x.describe());
  return reshape(x, {x.size(0), x.size(1) * x.size(2)});
}

Tensor segmented_attention(const Tensor& q, const Segments& qs, const Tensor& k, const Tensor& v, const Segments& ks) {
  constexpr const char* op = "segmented_attention";
  CORTEX_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, op, "expected [N, heads, head_dim] operands, got q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(k.shape() == v.shape() && q.size(1) == k.size(1) && q.size(2) == k.size(2), op,
               "q, k and v must share heads and head dim, got q ", q.describe(), ", k ", k.describe(), ", v ",
               v.describe());
  qs.check(op, "query", q.size(0));
  ks.check(op, "key", k.size(0), qs.samples());
  // One fused op for every batch: no per-sample launches, and the same path for equal and
  // unequal lengths.
  return cortex::segmented_attention(q, qs.offsets, k, v, ks.offsets);
}

}  // namespace cortex::nn
