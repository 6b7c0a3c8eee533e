// dense_attention on the CPU: token-major [B, L, H, D] operands (also as strided slices of a
// packed [B * L, 3 * H * D] projection) against plain float64 loops, and its gradient (the
// composition's) against finite differences.
#include <cmath>

#include "autograd/backward.h"
#include "ops/dense_attention.h"
#include "ops/views.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// q [B, Lq, H, D], k and v [B, Lk, H, D] in double loops; out [B, Lq, H, D].
std::vector<double> reference(const Tensor& q, const Tensor& k, const Tensor& v, double scale) {
  const auto qv = values(q), kv = values(k), vv = values(v);
  const int64_t batch = q.size(0), lq = q.size(1), heads = q.size(2), d = q.size(3), lk = k.size(1);
  auto at = [&](int64_t b, int64_t t, int64_t h, int64_t c, int64_t len) { return ((b * len + t) * heads + h) * d + c; };
  std::vector<double> out(static_cast<size_t>(q.numel()), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t i = 0; i < lq; ++i) {
        std::vector<double> w(static_cast<size_t>(lk));
        double best = -INFINITY, total = 0;
        for (int64_t j = 0; j < lk; ++j) {
          double s = 0;
          for (int64_t c = 0; c < d; ++c) s += qv[at(b, i, h, c, lq)] * kv[at(b, j, h, c, lk)];
          w[j] = s * scale;
          best = std::max(best, w[j]);
        }
        for (double& x : w) total += (x = std::exp(x - best));
        for (int64_t j = 0; j < lk; ++j)
          for (int64_t c = 0; c < d; ++c) out[at(b, i, h, c, lq)] += w[j] / total * vv[at(b, j, h, c, lk)];
      }
  return out;
}

}  // namespace

TEST_CASE("dense_attention matches float64 loops on contiguous and packed strided operands") {
  for (int64_t lq : {1, 5, 17})
    for (int64_t lk : {1, 4, 19}) {
      INFO("Lq=", lq, " Lk=", lk);
      const int64_t batch = 2, heads = 3, d = 4;
      const Tensor q = random({batch, lq, heads, d}, 11 + lq), k = random({batch, lk, heads, d}, 13 + lk),
                   v = random({batch, lk, heads, d}, 17 + lq * lk);
      const std::vector<double> want = reference(q, k, v, 0.5);
      const Tensor out = dense_attention(q, k, v, 0.5);
      CHECK(out.shape() == q.shape());
      expect_close(out, from_vector(want, q.shape()), 1e-12, 1e-12, "contiguous");

      // Self-attention over a packed projection: q, k, v are column slices of [B * L, 3 * H * D].
      const Tensor packed = random({batch * lk, 3 * heads * d}, 19 + lk);
      auto slice = [&](int64_t i) {
        return reshape(narrow(packed, 1, i * heads * d, heads * d), {batch, lk, heads, d});
      };
      const Tensor ps = slice(0), ks = slice(1), vs = slice(2);
      expect_close(dense_attention(ps, ks, vs), from_vector(reference(ps, ks, vs, 1 / std::sqrt(4.0)), ps.shape()),
                   1e-12, 1e-12, "packed");
    }
}

TEST_CASE("dense_attention gradients match finite differences") {
  const Tensor q = random({2, 3, 2, 4}, 31), k = random({2, 5, 2, 4}, 32), v = random({2, 5, 2, 4}, 33);
  gradcheck([](const std::vector<Tensor>& in) { return dense_attention(in[0], in[1], in[2]); }, {q, k, v});
}

TEST_CASE("dense_attention rejects mismatched operands with a clear error") {
  const Tensor q = random({2, 3, 2, 4}, 41), k = random({2, 5, 2, 4}, 42);
  CHECK_THROWS_WITH_AS(dense_attention(q, k, random({2, 6, 2, 4}, 43)),
                       doctest::Contains("must share batch, heads and head dim"), cortex::Error);
  CHECK_THROWS_WITH_AS(dense_attention(random({2, 3, 8}, 44), k, k), doctest::Contains("expected q [B, Lq, H, D]"),
                       cortex::Error);
}

TEST_CASE("dense_attention_fused_fits states the CUDA kernel's preconditions") {
  const Tensor bf = data_to_dtype(random({2, 256, 6, 64}, 51), DType::bf16);
  CHECK(dense_attention_fused_fits(bf, bf, bf));
  const Tensor f32 = random({2, 256, 6, 64}, 52, DType::f32);
  CHECK_FALSE(dense_attention_fused_fits(f32, f32, f32));  // f32 takes the composition
  const Tensor odd = data_to_dtype(random({2, 16, 6, 48}, 53), DType::bf16);
  CHECK_FALSE(dense_attention_fused_fits(odd, odd, odd));  // head dim 48
  const Tensor many = data_to_dtype(random({1, 1024, 1, 64}, 54), DType::bf16);
  CHECK_FALSE(dense_attention_fused_fits(many, many, many));  // 1024 keys do not fit in shared memory
}
