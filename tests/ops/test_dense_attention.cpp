// dense_attention on the CPU: token-major [B, L, H, D] operands (also as strided slices of a
// packed [B * L, 3 * H * D] projection) against plain float64 loops, and its gradient (the
// composition's) against finite differences; rotary_dense_attention against rotating q and k
// by their tokens' angles in float64 loops first.
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

// x [B, L, H, D] with channel pairs (j, F + j) of token n = b * L + t rotated by angle n j.
Tensor rotated_reference(const Tensor& x, const std::vector<double>& angles, int64_t f) {
  auto xv = values(x);
  const int64_t tokens = x.size(0) * x.size(1), heads = x.size(2), d = x.size(3);
  for (int64_t n = 0; n < tokens; ++n)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < f; ++j) {
        const double a = angles[static_cast<size_t>(n * f + j)];
        double& x1 = xv[static_cast<size_t>((n * heads + h) * d + j)];
        double& x2 = xv[static_cast<size_t>((n * heads + h) * d + f + j)];
        const double r1 = x1 * std::cos(a) - x2 * std::sin(a), r2 = x2 * std::cos(a) + x1 * std::sin(a);
        x1 = r1;
        x2 = r2;
      }
  return from_vector(xv, x.shape());
}

std::vector<double> some_angles(int64_t count, uint64_t seed) { return values(random({count}, seed)); }

Tensor cos_of(const std::vector<double>& angles, int64_t tokens, int64_t f) {
  std::vector<double> c;
  for (double a : angles) c.push_back(std::cos(a));
  return from_vector(c, {tokens, 1, f});
}
Tensor sin_of(const std::vector<double>& angles, int64_t tokens, int64_t f) {
  std::vector<double> s;
  for (double a : angles) s.push_back(std::sin(a));
  return from_vector(s, {tokens, 1, f});
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

TEST_CASE("rotary_dense_attention rotates q and k by their tokens' angles, then attends") {
  const int64_t batch = 2, len = 7, heads = 3, d = 8, f = 2;  // pairs (0, 2), (1, 3); channels 4..7 untouched
  const std::vector<double> angles = some_angles(batch * len * f, 71);
  const Tensor cos = cos_of(angles, batch * len, f), sin = sin_of(angles, batch * len, f);
  const Tensor packed = random({batch * len, 3 * heads * d}, 72);
  auto slice = [&](int64_t i) { return reshape(narrow(packed, 1, i * heads * d, heads * d), {batch, len, heads, d}); };
  const Tensor q = slice(0), k = slice(1), v = slice(2);
  const std::vector<double> want =
      reference(rotated_reference(q, angles, f), rotated_reference(k, angles, f), v, 1 / std::sqrt(8.0));
  expect_close(rotary_dense_attention(q, k, v, cos, sin), from_vector(want, q.shape()), 1e-12, 1e-12, "[N, 1, F]");
  // The same angles as [B * L, F] rows.
  expect_close(rotary_dense_attention(q, k, v, reshape(cos, {batch * len, f}), reshape(sin, {batch * len, f})),
               from_vector(want, q.shape()), 1e-12, 1e-12, "[N, F]");
}

TEST_CASE("rotary_dense_attention gradients match finite differences") {
  const int64_t batch = 2, len = 3, f = 1;
  const std::vector<double> angles = some_angles(batch * len * f, 81);
  const Tensor cos = cos_of(angles, batch * len, f), sin = sin_of(angles, batch * len, f);
  const Tensor q = random({batch, len, 2, 4}, 82), k = random({batch, len, 2, 4}, 83), v = random({batch, len, 2, 4}, 84);
  gradcheck([&](const std::vector<Tensor>& in) { return rotary_dense_attention(in[0], in[1], in[2], cos, sin); },
            {q, k, v});
}

TEST_CASE("rotary_dense_attention rejects cross-attention and angles of the wrong tokens") {
  const Tensor q = random({2, 3, 2, 4}, 91), k = random({2, 5, 2, 4}, 92);
  const Tensor angles6 = random({6, 1, 1}, 93), angles10 = random({10, 1, 1}, 94);
  CHECK_THROWS_WITH_AS(rotary_dense_attention(q, k, k, angles10, angles10), doctest::Contains("is self-attention"),
                       cortex::Error);
  CHECK_THROWS_WITH_AS(rotary_dense_attention(q, q, q, angles10, angles10), doctest::Contains("B * L = 6"),
                       cortex::Error);
  CHECK_THROWS_WITH_AS(rotary_dense_attention(q, q, q, angles6, Tensor()), doctest::Contains("cos and sin must be"),
                       cortex::Error);
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
  CHECK(dense_attention_fused_fits(many, many, many));  // keys stream through shared memory: any count
  const Tensor misaligned = narrow(data_to_dtype(random({2, 16, 6, 65}, 55), DType::bf16), 3, 1, 64);
  CHECK_FALSE(dense_attention_fused_fits(misaligned, misaligned, misaligned));  // rows start off 16 bytes
  // Angles: [B * L, 1, F] or [B * L, F] in the operands' dtype, F a multiple of 8 with 2F <= D.
  const Tensor cos16 = data_to_dtype(random({512, 1, 16}, 56), DType::bf16);
  CHECK(dense_attention_fused_fits(bf, bf, bf, cos16, cos16));
  CHECK(dense_attention_fused_fits(bf, bf, bf, reshape(cos16, {512, 16}), reshape(cos16, {512, 16})));
  const Tensor cos12 = data_to_dtype(random({512, 1, 12}, 57), DType::bf16);
  CHECK_FALSE(dense_attention_fused_fits(bf, bf, bf, cos12, cos12));  // F = 12 rows are not 16-byte chunks
  const Tensor cos_f32 = random({512, 1, 16}, 58, DType::f32);
  CHECK_FALSE(dense_attention_fused_fits(bf, bf, bf, cos_f32, cos_f32));
  const Tensor cos_short = data_to_dtype(random({256, 1, 16}, 59), DType::bf16);
  CHECK_FALSE(dense_attention_fused_fits(bf, bf, bf, cos_short, cos_short));  // one row per token: 512
}
