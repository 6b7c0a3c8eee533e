#include <algorithm>
#include <cmath>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// softmax (or log-softmax) along `dim` of a row-major tensor, in double with plain loops.
Tensor reference_softmax(const Tensor& x, int64_t dim, bool log) {
  const auto v = values(x);
  const Shape& s = x.shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= s[d];
  for (int64_t d = dim + 1; d < static_cast<int64_t>(s.size()); ++d) inner *= s[d];
  const int64_t n = s[dim];
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t k) { return static_cast<size_t>((o * n + k) * inner + i); };
      double m = -INFINITY;
      for (int64_t k = 0; k < n; ++k) m = std::max(m, v[at(k)]);
      double sum = 0;
      for (int64_t k = 0; k < n; ++k) sum += std::exp(v[at(k)] - m);
      for (int64_t k = 0; k < n; ++k)
        out[at(k)] = log ? v[at(k)] - m - std::log(sum) : std::exp(v[at(k)] - m) / sum;
    }
  return from_vector(out, s);
}

Tensor as_f64(const Tensor& t) { return data_to_dtype(t, DType::f64); }

}  // namespace

TEST_CASE("softmax and log_softmax match the float64 reference on awkward sizes, dims and views") {
  for (bool log : {false, true}) {
    auto op = log ? log_softmax : softmax;
    for (int64_t rows : kAwkwardSizes)
      for (int64_t cols : kAwkwardSizes) {
        INFO((log ? "log_softmax" : "softmax"), " rows=", rows, " cols=", cols);
        Tensor x = random({rows, cols}, 100 + rows * 7 + cols, DType::f64, Device::cpu(), 3.0);
        for (int64_t dim : {1, 0}) {
          INFO("dim ", dim);
          const Tensor expected = reference_softmax(x, dim, log);
          expect_close(op(x, dim), expected, 1e-12, 1e-12, "f64");
          expect_close(op(noncontiguous(x), dim), expected, 1e-12, 1e-12, "f64 view");
          Tensor x32 = data_to_dtype(x, DType::f32);
          expect_close(op(x32, dim), expected, 1e-5, 1e-6, "f32");
          expect_close(op(noncontiguous(x32), dim), expected, 1e-5, 1e-6, "f32 view");
          Tensor xb = data_to_dtype(x, DType::bf16);
          expect_close(op(xb, dim), reference_softmax(as_f64(xb), dim, log), 1e-2, 1e-3, "bf16");
          Tensor xh = data_to_dtype(x, DType::f16);
          expect_close(op(xh, dim), reference_softmax(as_f64(xh), dim, log), 2e-3, 1e-4, "f16");
        }
      }
  }
}

TEST_CASE("softmax over a middle dim of a 3-D tensor, and large inputs running in parallel") {
  Tensor x = random({3, 17, 5}, 4);
  expect_close(softmax(x, 1), reference_softmax(x, 1, false), 1e-12, 1e-12, "dim 1");
  expect_close(log_softmax(x, -2), reference_softmax(x, 1, true), 1e-12, 1e-12, "dim -2");
  // 600 x 129 rows split across threads.
  Tensor big = random({600, 129}, 5, DType::f32);
  expect_close(softmax(big), reference_softmax(as_f64(big), 1, false), 1e-5, 1e-7, "parallel");
}

TEST_CASE("softmax is stable for large logits and handles a scalar") {
  Tensor x = from_vector(std::vector<double>{1000, 1001, 1002, -1000}, {4});
  const auto y = values(softmax(data_to_dtype(x, DType::f32)));
  const double z = 1 + std::exp(1.0) + std::exp(2.0);
  CHECK(y[0] == doctest::Approx(1 / z).epsilon(1e-5));
  CHECK(y[2] == doctest::Approx(std::exp(2.0) / z).epsilon(1e-5));
  CHECK(y[3] == 0.0);
  CHECK(values(log_softmax(x))[3] == doctest::Approx(-2000 - std::log(z)));
  CHECK(softmax(scalar_tensor(3.0, DType::f64)).item() == 1.0);
  CHECK(log_softmax(scalar_tensor(3.0, DType::f64)).item() == 0.0);
}

TEST_CASE("softmax and log_softmax pass the gradient check") {
  gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0]); }, {random({3, 5}, 1)}, 1e-6, 1e-5, 1e-7,
            "softmax last");
  gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0], 0); }, {random({3, 5}, 2)}, 1e-6, 1e-5, 1e-7,
            "softmax dim 0");
  gradcheck([](const std::vector<Tensor>& in) { return log_softmax(in[0], 1); }, {random({2, 4, 3}, 3)}, 1e-6, 1e-5,
            1e-7, "log_softmax middle");
  gradcheck([](const std::vector<Tensor>& in) { return log_softmax(transpose(in[0], 0, 1)); }, {random({4, 3}, 4)},
            1e-6, 1e-5, 1e-7, "log_softmax of a view");
}

TEST_CASE("softmax rejects bad input") {
  CHECK_THROWS_WITH_AS(softmax(zeros({2, 3}, DType::i64)), doctest::Contains("softmax: expects a floating"), Error);
  CHECK_THROWS_WITH_AS(log_softmax(zeros({2, 3}), 2), doctest::Contains("out of range"), Error);
}
