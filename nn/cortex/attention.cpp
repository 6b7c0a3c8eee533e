#include "nn/cortex/attention.h"

#include <vector>

#include "engine/factory.h"
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

namespace {

bool is_uniform(const Segments& s) {
  for (int64_t b = 1; b < s.samples(); ++b)
    if (s.size(b) != s.size(0)) return false;
  return true;
}

}  // namespace

Tensor segmented_attention(const Tensor& q, const Segments& qs, const Tensor& k, const Tensor& v, const Segments& ks) {
  constexpr const char* op = "segmented_attention";
  CORTEX_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, op, "expected [N, heads, head_dim] operands, got q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(k.shape() == v.shape() && q.size(1) == k.size(1) && q.size(2) == k.size(2), op,
               "q, k and v must share heads and head dim, got q ", q.describe(), ", k ", k.describe(), ", v ",
               v.describe());
  qs.check(op, "query", q.size(0));
  ks.check(op, "key", k.size(0), qs.samples());
  const int64_t samples = qs.samples(), heads = q.size(1), dh = q.size(2);
  if (samples > 1 && q.size(0) > 0 && k.size(0) > 0 && is_uniform(qs) && is_uniform(ks)) {
    // Equal lengths (latents, one query per sample): one batched call, no loop.
    const int64_t nq = qs.size(0), nk = ks.size(0);
    auto by_sample = [&](const Tensor& t, int64_t n) {
      return permute(reshape(t, {samples, n, heads, t.size(2)}), {0, 2, 1, 3});
    };
    const Tensor a = scaled_dot_product_attention(by_sample(q, nq), by_sample(k, nk), by_sample(v, nk));
    return reshape(permute(a, {0, 2, 1, 3}), {samples * nq, heads, dh});
  }
  std::vector<Tensor> parts;
  for (int64_t b = 0; b < samples; ++b) {
    const int64_t nq = qs.size(b), nk = ks.size(b);
    if (nq == 0) continue;
    if (nk == 0) {
      parts.push_back(zeros({nq, heads, dh}, q.dtype(), q.device()));
      continue;
    }
    // [n, H, Dh] slices seen as [H, n, Dh] for a batched-over-heads attention.
    const Tensor qb = transpose(narrow(q, 0, qs.begin(b), nq), 0, 1);
    const Tensor kb = transpose(narrow(k, 0, ks.begin(b), nk), 0, 1);
    const Tensor vb = transpose(narrow(v, 0, ks.begin(b), nk), 0, 1);
    parts.push_back(transpose(scaled_dot_product_attention(qb, kb, vb), 0, 1));
  }
  if (parts.empty()) return zeros({0, heads, dh}, q.dtype(), q.device());
  return parts.size() == 1 ? contiguous(parts[0]) : cat(parts, 0);
}

}  // namespace cortex::nn
