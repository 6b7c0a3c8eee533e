#include <algorithm>
#include <cmath>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// Reference: reduce a [A, B, C] row-major buffer over the dims in `over` with op.
std::vector<double> reduce3(const std::vector<double>& v, const Shape& s, const std::vector<bool>& over, char op) {
  Shape out_shape = s;
  for (int d = 0; d < 3; ++d)
    if (over[static_cast<size_t>(d)]) out_shape[static_cast<size_t>(d)] = 1;
  std::vector<double> out(static_cast<size_t>(shape_numel(out_shape)), op == '+' ? 0.0 : NAN);
  for (int64_t a = 0; a < s[0]; ++a)
    for (int64_t b = 0; b < s[1]; ++b)
      for (int64_t c = 0; c < s[2]; ++c) {
        const int64_t oa = over[0] ? 0 : a, ob = over[1] ? 0 : b, oc = over[2] ? 0 : c;
        double& o = out[static_cast<size_t>((oa * out_shape[1] + ob) * out_shape[2] + oc)];
        const double x = v[static_cast<size_t>((a * s[1] + b) * s[2] + c)];
        if (op == '+') o += x;
        else if (std::isnan(o)) o = x;
        else o = op == '>' ? std::max(o, x) : std::min(o, x);
      }
  return out;
}

std::vector<double> matmul_reference(const std::vector<double>& a, const std::vector<double>& b, int64_t m, int64_t k,
                                     int64_t n) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j)
        c[static_cast<size_t>(i * n + j)] += a[static_cast<size_t>(i * k + p)] * b[static_cast<size_t>(p * n + j)];
  return c;
}

}  // namespace

TEST_CASE("sum, max and min over every subset of dims match the reference") {
  for (int64_t n : kAwkwardSizes) {
    const Shape s{3, n, 5};
    Tensor x = random(s, 100 + n);
    const auto xv = values(x);
    for (int mask = 1; mask < 8; ++mask) {
      std::vector<int64_t> dims;
      std::vector<bool> over(3, false);
      for (int d = 0; d < 3; ++d)
        if (mask & (1 << d)) {
          dims.push_back(d);
          over[static_cast<size_t>(d)] = true;
        }
      INFO("n=", n, " mask=", mask);
      Shape kept = s;
      for (int64_t d : dims) kept[static_cast<size_t>(d)] = 1;
      expect_close(sum(x, dims, true), from_vector(reduce3(xv, s, over, '+'), kept), 1e-12, 1e-12, "sum");
      expect_close(max(x, dims, true), from_vector(reduce3(xv, s, over, '>'), kept), 0, 0, "max");
      expect_close(min(x, dims, true), from_vector(reduce3(xv, s, over, '<'), kept), 0, 0, "min");
      expect_close(sum(noncontiguous(data_to_dtype(x, DType::f32)), dims, true),
                   from_vector(reduce3(xv, s, over, '+'), kept), 1e-5, 1e-5, "f32 view");
      expect_close(sum(data_to_dtype(x, DType::bf16), dims, true), from_vector(reduce3(xv, s, over, '+'), kept), 2e-2,
                   5e-2, "bf16");
    }
  }
  CHECK(sum(random({2, 3}, 1), {-1}).shape() == Shape{2});
  CHECK(sum(random({2, 3}, 1)).shape() == Shape{});
  CHECK(mean(from_vector(std::vector<double>{1, 2, 3, 6}, {2, 2}), {0}).to_vector<double>() ==
        std::vector<double>{2, 4});
  CHECK_THROWS_WITH_AS(sum(random({2}, 1), {0, 0}), doctest::Contains("repeated dim"), Error);
  CHECK_THROWS_WITH_AS(max(zeros({0, 2}), {0}), doctest::Contains("empty dim"), Error);
}

TEST_CASE("argmax picks the first maximum along a dim") {
  Tensor x = from_vector(std::vector<double>{1, 5, 5, 2, 9, 0}, {2, 3});
  CHECK(argmax(x, 1).to_vector<int64_t>() == std::vector<int64_t>{1, 1});
  CHECK(argmax(x, 0).to_vector<int64_t>() == std::vector<int64_t>{1, 1, 0});
  CHECK(argmax(transpose(x, 0, 1), 0, true).shape() == Shape{1, 2});
}

TEST_CASE("reductions pass the gradient check") {
  Tensor x = random({3, 4, 5}, 9);
  gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {1}); }, {x}, 1e-6, 1e-5, 1e-7, "sum dim");
  gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], {0, 2}, true); }, {x}, 1e-6, 1e-5, 1e-7, "mean");
  gradcheck([](const std::vector<Tensor>& in) { return max(in[0], {2}); }, {x}, 1e-6, 1e-5, 1e-7, "max");
  gradcheck([](const std::vector<Tensor>& in) { return min(in[0], {0}); }, {x}, 1e-6, 1e-5, 1e-7, "min");
  gradcheck([](const std::vector<Tensor>& in) { return sum(in[0]); }, {x}, 1e-6, 1e-5, 1e-7, "sum all");
}

TEST_CASE("matmul matches the reference for awkward sizes, transposes and dtypes") {
  for (int64_t m : kAwkwardSizes)
    for (int64_t k : {1, 17, 129})
      for (int64_t n : {1, 3, 17}) {
        INFO("m=", m, " k=", k, " n=", n);
        Tensor a = random({m, k}, m * 7 + k), b = random({k, n}, n * 13 + k);
        Tensor expected = from_vector(matmul_reference(values(a), values(b), m, k, n), {m, n});
        expect_close(matmul(a, b), expected, 1e-12, 1e-12, "f64");
        expect_close(matmul(data_to_dtype(a, DType::f32), noncontiguous(data_to_dtype(b, DType::f32))), expected,
                     1e-5, 1e-4, "f32 with transposed b");
        expect_close(matmul(noncontiguous(data_to_dtype(a, DType::f32)), data_to_dtype(b, DType::f32)), expected,
                     1e-5, 1e-4, "f32 with transposed a");
        expect_close(matmul(data_to_dtype(a, DType::bf16), data_to_dtype(b, DType::bf16)), expected, 2e-2, 0.3,
                     "bf16");
      }
}

TEST_CASE("batched matmul broadcasts batch dims and handles 1-D operands") {
  Tensor a = random({2, 1, 3, 4}, 1), b = random({5, 4, 6}, 2);
  Tensor c = matmul(a, b);
  REQUIRE(c.shape() == Shape{2, 5, 3, 6});
  const auto av = values(a), bv = values(b), cv = values(c);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 5; ++j) {
      std::vector<double> ai(av.begin() + i * 12, av.begin() + (i + 1) * 12);
      std::vector<double> bj(bv.begin() + j * 24, bv.begin() + (j + 1) * 24);
      const auto ref = matmul_reference(ai, bj, 3, 4, 6);
      for (int e = 0; e < 18; ++e) CHECK(std::abs(cv[static_cast<size_t>((i * 5 + j) * 18 + e)] - ref[e]) < 1e-12);
    }
  CHECK(matmul(random({4}, 3), random({4, 6}, 4)).shape() == Shape{6});
  CHECK(matmul(random({3, 4}, 3), random({4}, 4)).shape() == Shape{3});
  CHECK(matmul(random({7, 3, 4}, 3), random({4, 2}, 4)).shape() == Shape{7, 3, 2});
  CHECK_THROWS_WITH_AS(matmul(random({3, 4}, 1), random({5, 2}, 1)), doctest::Contains("inner dims differ"), Error);
  CHECK_THROWS_WITH_AS(matmul(random({3, 4}, 1), random({4, 2}, 1, DType::f32)), doctest::Contains("share a floating"),
                       Error);
}

TEST_CASE("matmul and linear pass the gradient check, broadcasting included") {
  gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {random({3, 4}, 1), random({4, 5}, 2)},
            1e-6, 1e-5, 1e-7, "2-D");
  gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
            {random({2, 3, 4}, 3), random({4, 2}, 4)}, 1e-6, 1e-5, 1e-7, "batched x shared");
  gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); },
            {random({2, 1, 3, 4}, 5), random({3, 4, 2}, 6)}, 1e-6, 1e-5, 1e-7, "broadcast batch");
  gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {random({4}, 7), random({4, 3}, 8)},
            1e-6, 1e-5, 1e-7, "vector");
  gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
            {random({5, 4}, 9), random({3, 4}, 10), random({3}, 11)}, 1e-6, 1e-5, 1e-7, "linear");
}

TEST_CASE("views pass the gradient check") {
  Tensor x = random({3, 4, 2}, 12);
  gradcheck([](const std::vector<Tensor>& in) { return transpose(in[0], 0, 2); }, {x}, 1e-6, 1e-5, 1e-7, "transpose");
  gradcheck([](const std::vector<Tensor>& in) { return permute(in[0], {1, 2, 0}); }, {x}, 1e-6, 1e-5, 1e-7, "permute");
  gradcheck([](const std::vector<Tensor>& in) { return reshape(transpose(in[0], 0, 1), {8, 3}); }, {x}, 1e-6, 1e-5,
            1e-7, "reshape of a view");
  gradcheck([](const std::vector<Tensor>& in) { return narrow(in[0], 1, 1, 2); }, {x}, 1e-6, 1e-5, 1e-7, "narrow");
  gradcheck([](const std::vector<Tensor>& in) { return expand(in[0], {5, 3, 4, 2}); }, {random({3, 1, 2}, 13)}, 1e-6,
            1e-5, 1e-7, "expand");
  gradcheck([](const std::vector<Tensor>& in) { return squeeze(unsqueeze(in[0], 1), 1); }, {x}, 1e-6, 1e-5, 1e-7,
            "squeeze");
  gradcheck([](const std::vector<Tensor>& in) { return to(to(in[0], DType::f32), DType::f64); }, {x}, 1e-3, 1e-3,
            1e-4, "dtype round trip");
  gradcheck([](const std::vector<Tensor>& in) { return contiguous(transpose(in[0], 0, 1)); }, {x}, 1e-6, 1e-5, 1e-7,
            "contiguous");
}
