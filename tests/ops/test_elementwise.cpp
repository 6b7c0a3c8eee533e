#include <cmath>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// Applies f element by element in double on the host: the reference for unary ops.
Tensor reference_unary(const Tensor& x, double (*f)(double)) {
  auto v = values(x);
  for (double& e : v) e = f(e);
  return from_vector(v, x.shape());
}

double ref_sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
double ref_gelu(double x) {
  return 0.5 * x * (1.0 + std::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x * x * x)));
}
double ref_silu(double x) { return x * ref_sigmoid(x); }
double ref_relu(double x) { return x > 0 ? x : 0; }

struct UnaryCase {
  const char* name;
  Tensor (*op)(const Tensor&);
  double (*ref)(double);
  bool positive_only;
};

const UnaryCase kUnary[] = {
    {"neg", neg, [](double x) { return -x; }, false},
    {"exp", exp, [](double x) { return std::exp(x); }, false},
    {"log", log, [](double x) { return std::log(x); }, true},
    {"sqrt", sqrt, [](double x) { return std::sqrt(x); }, true},
    {"rsqrt", rsqrt, [](double x) { return 1.0 / std::sqrt(x); }, true},
    {"tanh", tanh, [](double x) { return std::tanh(x); }, false},
    {"sigmoid", sigmoid, ref_sigmoid, false},
    {"relu", relu, ref_relu, false},
    {"gelu", gelu, ref_gelu, false},
    {"silu", silu, ref_silu, false},
    {"abs", abs, [](double x) { return std::abs(x); }, false},
    {"square", square, [](double x) { return x * x; }, false},
};

Tensor input_for(const UnaryCase& c, const Shape& shape, uint64_t seed, DType dtype) {
  return c.positive_only ? random_uniform(shape, seed, 0.2, 3.0, dtype) : random(shape, seed, dtype);
}

}  // namespace

TEST_CASE("unary ops match the float64 reference on awkward sizes and views") {
  for (const auto& c : kUnary) {
    for (int64_t n : kAwkwardSizes) {
      INFO(c.name, " n=", n);
      Tensor x64 = input_for(c, {n, 3}, 11 + n, DType::f64);
      const Tensor expected = reference_unary(x64, c.ref);
      expect_close(c.op(x64), expected, 1e-12, 1e-12, "f64");
      expect_close(c.op(data_to_dtype(x64, DType::f32)), expected, 1e-5, 1e-6, "f32");
      expect_close(c.op(noncontiguous(data_to_dtype(x64, DType::f32))), expected, 1e-5, 1e-6, "f32 view");
      expect_close(c.op(data_to_dtype(x64, DType::bf16)), reference_unary(data_to_dtype(data_to_dtype(x64, DType::bf16), DType::f64), c.ref), 1e-2, 1e-2, "bf16");
    }
  }
}

TEST_CASE("unary ops pass the finite-difference gradient check") {
  for (const auto& c : kUnary) {
    if (std::string(c.name) == "abs" || std::string(c.name) == "relu") {
      // Kinks at 0: keep inputs away from it.
      Tensor x = random_uniform({4, 5}, 3, 0.1, 2.0);
      Tensor sign = from_vector(std::vector<double>{1, -1, 1, -1, 1}, {5});
      gradcheck([&](const std::vector<Tensor>& in) { return c.op(mul(in[0], sign)); }, {x}, 1e-6, 1e-5, 1e-7, c.name);
      continue;
    }
    gradcheck([&](const std::vector<Tensor>& in) { return c.op(in[0]); }, {input_for(c, {4, 5}, 5, DType::f64)}, 1e-6,
              1e-5, 1e-7, c.name);
  }
}

TEST_CASE("binary ops broadcast and match the reference") {
  Tensor a = random({17, 1, 3}, 1), b = random_uniform({5, 1}, 2, 0.5, 2.0);
  const auto va = values(a), vb = values(b);
  std::vector<double> sum_ref, prod_ref, div_ref;
  for (int i = 0; i < 17; ++i)
    for (int j = 0; j < 5; ++j)
      for (int k = 0; k < 3; ++k) {
        sum_ref.push_back(va[i * 3 + k] + vb[j]);
        prod_ref.push_back(va[i * 3 + k] * vb[j]);
        div_ref.push_back(va[i * 3 + k] / vb[j]);
      }
  expect_close(add(a, b), from_vector(sum_ref, {17, 5, 3}), 1e-12, 1e-12, "add");
  expect_close(mul(a, b), from_vector(prod_ref, {17, 5, 3}), 1e-12, 1e-12, "mul");
  expect_close(div(a, b), from_vector(div_ref, {17, 5, 3}), 1e-12, 1e-12, "div");
  expect_close(add(data_to_dtype(a, DType::f32), noncontiguous(data_to_dtype(b, DType::f32))),
               from_vector(sum_ref, {17, 5, 3}), 1e-6, 1e-6, "f32 add with a view");
}

TEST_CASE("binary ops pass the gradient check, broadcasting included") {
  Tensor a = random({3, 1, 4}, 7), b = random_uniform({5, 4}, 8, 0.5, 2.0);
  gradcheck([](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, {a, b}, 1e-6, 1e-5, 1e-7, "add");
  gradcheck([](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }, {a, b}, 1e-6, 1e-5, 1e-7, "sub");
  gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, b}, 1e-6, 1e-5, 1e-7, "mul");
  gradcheck([](const std::vector<Tensor>& in) { return div(in[0], in[1]); }, {a, b}, 1e-6, 1e-5, 1e-7, "div");
  gradcheck([](const std::vector<Tensor>& in) { return pow(in[1], in[0]); }, {a, b}, 1e-6, 1e-5, 1e-7, "pow");
  gradcheck([](const std::vector<Tensor>& in) { return maximum(in[0], in[1]); }, {a, b}, 1e-6, 1e-5, 1e-7, "maximum");
  gradcheck([](const std::vector<Tensor>& in) { return minimum(in[0], in[1]); }, {a, b}, 1e-6, 1e-5, 1e-7, "minimum");
  gradcheck([](const std::vector<Tensor>& in) { return pow(in[0], 3.0); }, {a}, 1e-6, 1e-5, 1e-7, "pow scalar");
  gradcheck([](const std::vector<Tensor>& in) { return rsub(2.0, mul(in[0], 3.0)); }, {a}, 1e-6, 1e-5, 1e-7, "scalars");
  gradcheck([](const std::vector<Tensor>& in) { return clamp(in[0], -0.5, 0.5); }, {a}, 1e-6, 1e-5, 1e-7, "clamp");
}

TEST_CASE("comparisons and where") {
  Tensor a = from_vector(std::vector<double>{1, 2, 3, 4}, {4});
  Tensor b = from_vector(std::vector<double>{4, 2, 1, 5}, {4});
  CHECK(values(lt(a, b)) == std::vector<double>{1, 0, 0, 1});
  CHECK(values(eq(a, b)) == std::vector<double>{0, 1, 0, 0});
  CHECK(values(ge(a, b)) == std::vector<double>{0, 1, 1, 0});
  CHECK(values(where(gt(a, b), a, b)) == std::vector<double>{4, 2, 3, 5});
  Tensor c = gt(random({3, 4}, 1), zeros({}, DType::f64));
  gradcheck([&](const std::vector<Tensor>& in) { return where(c, in[0], in[1]); }, {random({3, 4}, 2), random({4}, 3)},
            1e-6, 1e-5, 1e-7, "where");
}

TEST_CASE("binary ops reject mismatched operands with a useful message") {
  Tensor a = zeros({2, 3}), b = zeros({4, 3});
  CHECK_THROWS_WITH_AS(add(a, b), doctest::Contains("cannot be broadcast"), Error);
  CHECK_THROWS_WITH_AS(add(a, zeros({2, 3}, DType::f64)), doctest::Contains("different dtypes"), Error);
  CHECK_THROWS_WITH_AS(log(zeros({2}, DType::i64)), doctest::Contains("floating"), Error);
}
