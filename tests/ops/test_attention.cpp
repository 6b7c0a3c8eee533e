#include <cmath>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// q [B, Lq, D], k [B, Lk, D], v [B, Lk, Dv], mask [B, Lk] (or undefined), plain loops in
// double. A query with every key masked gets zeros.
Tensor ref_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask, double scale) {
  const auto qv = values(q), kv = values(k), vv = values(v);
  const auto mv = mask.defined() ? values(mask) : std::vector<double>();
  const int64_t batch = q.size(0), lq = q.size(1), lk = k.size(1), d = q.size(2), dv = v.size(2);
  std::vector<double> out(static_cast<size_t>(batch * lq * dv), 0.0);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t i = 0; i < lq; ++i) {
      std::vector<double> w(static_cast<size_t>(lk), 0.0);
      double best = -INFINITY;
      for (int64_t j = 0; j < lk; ++j) {
        if (!mv.empty() && mv[b * lk + j] != 0) continue;
        double s = 0;
        for (int64_t c = 0; c < d; ++c) s += qv[(b * lq + i) * d + c] * kv[(b * lk + j) * d + c];
        w[j] = s * scale;
        best = std::max(best, w[j]);
      }
      if (best == -INFINITY) continue;  // all keys masked
      double total = 0;
      for (int64_t j = 0; j < lk; ++j) {
        const bool masked = !mv.empty() && mv[b * lk + j] != 0;
        w[j] = masked ? 0.0 : std::exp(w[j] - best);
        total += w[j];
      }
      for (int64_t j = 0; j < lk; ++j)
        for (int64_t c = 0; c < dv; ++c) out[(b * lq + i) * dv + c] += w[j] / total * vv[(b * lk + j) * dv + c];
    }
  return from_vector(out, {batch, lq, dv});
}

// Padding masks that leave at least one key per batch element, except where all_masked_batch >= 0.
Tensor padding_mask(int64_t batch, int64_t lk, int64_t all_masked_batch = -1) {
  std::vector<uint8_t> m;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t j = 0; j < lk; ++j) m.push_back(b == all_masked_batch || (j > 0 && (j + b) % 3 == 0));
  return data_to_dtype(from_vector(m, {batch, lk}), DType::boolean);
}

Tensor cast(const Tensor& t, DType d) { return data_to_dtype(t, d); }

}  // namespace

TEST_CASE("attention matches the float64 reference with and without a padding mask") {
  for (int64_t lq : {1, 3, 17})
    for (int64_t lk : {1, 3, 17}) {
      INFO("Lq=", lq, " Lk=", lk);
      const int64_t d = 8;
      Tensor q = random({2, lq, d}, lq * 5 + lk), k = random({2, lk, d}, lq * 7 + lk), v = random({2, lk, 5}, lk);
      Tensor mask = padding_mask(2, lk);
      const double scale = 1 / std::sqrt(8.0);
      for (const Tensor& m : {Tensor(), mask}) {
        INFO((m.defined() ? "masked" : "unmasked"));
        const Tensor expected = ref_attention(q, k, v, m, scale);
        expect_close(scaled_dot_product_attention(q, k, v, m), expected, 1e-10, 1e-12, "f64");
        expect_close(scaled_dot_product_attention(noncontiguous(q), noncontiguous(k), noncontiguous(v), m), expected,
                     1e-10, 1e-12, "f64 views");
        expect_close(scaled_dot_product_attention(cast(q, DType::f32), cast(k, DType::f32), cast(v, DType::f32), m),
                     expected, 1e-4, 1e-5, "f32");
        Tensor qb = cast(q, DType::bf16), kb = cast(k, DType::bf16), vb = cast(v, DType::bf16);
        expect_close(scaled_dot_product_attention(qb, kb, vb, m),
                     ref_attention(cast(qb, DType::f64), cast(kb, DType::f64), cast(vb, DType::f64), m, scale), 3e-2,
                     3e-2, "bf16");
      }
      expect_close(scaled_dot_product_attention(q, k, v, Tensor(), 0.3), ref_attention(q, k, v, Tensor(), 0.3), 1e-10,
                   1e-12, "explicit scale");
    }
}

TEST_CASE("attention with heads broadcasts a [B, 1, Lk] mask over heads and queries") {
  const int64_t batch = 2, heads = 3, lq = 4, lk = 5, d = 6;
  Tensor q = random({batch, heads, lq, d}, 1), k = random({batch, heads, lk, d}, 2), v = random({batch, heads, lk, d}, 3);
  Tensor mask = padding_mask(batch, lk);
  Tensor out = scaled_dot_product_attention(q, k, v, reshape(mask, {batch, 1, lk}));
  // Reference: fold heads into the batch, repeating each batch element's mask per head.
  std::vector<uint8_t> per_head;
  const auto mv = values(mask);
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t h = 0; h < heads; ++h)
      for (int64_t j = 0; j < lk; ++j) per_head.push_back(mv[b * lk + j] != 0);
  Tensor folded_mask = cast(from_vector(per_head, {batch * heads, lk}), DType::boolean);
  const Tensor expected = ref_attention(reshape(q, {batch * heads, lq, d}), reshape(k, {batch * heads, lk, d}),
                                        reshape(v, {batch * heads, lk, d}), folded_mask, 1 / std::sqrt(6.0));
  expect_close(reshape(out, {batch * heads, lq, d}), expected, 1e-10, 1e-12, "heads");
}

TEST_CASE("a query whose keys are all masked returns zeros and finite gradients") {
  for (DType dtype : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
    INFO(std::string(dtype_name(dtype)));
    Tensor q = random({2, 3, 4}, 1, dtype).set_requires_grad();
    Tensor k = random({2, 5, 4}, 2, dtype).set_requires_grad();
    Tensor v = random({2, 5, 4}, 3, dtype).set_requires_grad();
    Tensor out = scaled_dot_product_attention(q, k, v, padding_mask(2, 5, /*all_masked_batch=*/1));
    const auto ov = values(out);
    for (size_t i = 0; i < ov.size(); ++i) {
      CHECK(std::isfinite(ov[i]));
      if (i >= ov.size() / 2) CHECK(ov[i] == 0.0);
    }
    backward(sum(square(out)));
    for (const Tensor* t : {&q, &k, &v}) {
      const auto g = values(t->grad());
      for (size_t i = 0; i < g.size(); ++i) {
        CHECK(std::isfinite(g[i]));
        if (i >= g.size() / 2) CHECK(g[i] == 0.0);  // the masked batch element gets no gradient
      }
    }
  }
}

TEST_CASE("attention passes the gradient check wrt q, k and v") {
  Tensor q = random({2, 3, 4}, 1), k = random({2, 5, 4}, 2), v = random({2, 5, 3}, 3);
  gradcheck([](const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2]); },
            {q, k, v}, 1e-6, 1e-5, 1e-7, "unmasked");
  Tensor mask = padding_mask(2, 5);
  gradcheck([&](const std::vector<Tensor>& in) { return scaled_dot_product_attention(in[0], in[1], in[2], mask); },
            {q, k, v}, 1e-6, 1e-5, 1e-7, "masked");
  Tensor all_masked = padding_mask(2, 5, 0);
  gradcheck([&](const std::vector<Tensor>& in) {
    return scaled_dot_product_attention(in[0], in[1], in[2], all_masked, 0.7);
  }, {q, k, v}, 1e-6, 1e-5, 1e-7, "one batch element fully masked");
}

TEST_CASE("attention rejects inconsistent operands and masks") {
  Tensor q = zeros({2, 3, 4}), k = zeros({2, 5, 4}), v = zeros({2, 5, 3});
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, zeros({2, 5, 6}), v), doctest::Contains("same non-zero head dim"),
                       Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, zeros({2, 4, 3})), doctest::Contains("same number of keys"),
                       Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, zeros({2, 5, 3}, DType::f64)),
                       doctest::Contains("share a floating dtype"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, zeros({2, 5})), doctest::Contains("must be bool"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, zeros({2, 4}, DType::boolean)),
                       doctest::Contains("must end in the number of keys 5"), Error);
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q, k, v, zeros({3, 5}, DType::boolean)),
                       doctest::Contains("cannot be broadcast"), Error);
  // [B, Lk] against [B, H, Lq, Lk] scores would align B with H: refused, not guessed.
  Tensor q4 = zeros({2, 2, 3, 4}), k4 = zeros({2, 2, 5, 4});
  CHECK_THROWS_WITH_AS(scaled_dot_product_attention(q4, k4, k4, zeros({2, 5}, DType::boolean)),
                       doctest::Contains("e.g. [B, 1, Lk]"), Error);
  CHECK_NOTHROW(scaled_dot_product_attention(q4, k4, k4, zeros({2, 1, 5}, DType::boolean)));
}
