// outer_cos_sin against std::cos / std::sin of the f64 products (the host rotary angles it
// replaces), rounded to each dtype, with times far from zero (an hour of recording) where f32
// products would lose the phase; empty inputs and errors.
#include <cmath>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// [N, F] of fn(t[i] * w[k]) in f64.
Tensor reference(const std::vector<double>& t, const std::vector<double>& w, double (*fn)(double)) {
  std::vector<double> out;
  for (double ti : t)
    for (double wk : w) out.push_back(fn(ti * wk));
  return from_vector(out, {static_cast<int64_t>(t.size()), static_cast<int64_t>(w.size())});
}

}  // namespace

TEST_CASE("outer_cos_sin equals the f64 cos and sin of each product, rounded once") {
  for (int64_t n : kAwkwardSizes)
    for (int64_t f : {1, 3, 16})
      for (DType dtype : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
        INFO("N=", n, " F=", f, " ", dtype_name(dtype));
        // Times up to 3.6e6 ms (an hour), frequencies 2 pi / period for periods 1 ms .. 10 s.
        const std::vector<double> t = values(random_uniform({n}, 40 + n, -10.0, 3.6e6));
        std::vector<double> w;
        for (int64_t k = 0; k < f; ++k) w.push_back(2 * M_PI / std::pow(10.0, 4.0 * double(k) / double(f)));
        const auto [c, s] = outer_cos_sin(from_vector(t, {n}), from_vector(w, {f}), dtype);
        CHECK(c.dtype() == dtype);
        CHECK(c.shape() == Shape{n, f});
        // Exactly the dtype's rounding of the f64 value: no intermediate rounding.
        CHECK(values(c) == values(data_to_dtype(reference(t, w, std::cos), dtype)));
        CHECK(values(s) == values(data_to_dtype(reference(t, w, std::sin), dtype)));
      }
}

TEST_CASE("outer_cos_sin: empty inputs and errors") {
  const Tensor t = from_vector(std::vector<double>{1.0, 2.0}, {2}), w = from_vector(std::vector<double>{0.5}, {1});
  CHECK(outer_cos_sin(zeros({0}, DType::f64), w, DType::f32).first.shape() == Shape{0, 1});
  CHECK(outer_cos_sin(t, zeros({0}, DType::f64), DType::f32).second.shape() == Shape{2, 0});
  auto throws = [](const std::function<void()>& f, const char* text) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(text), cortex::Error);
  };
  throws([&] { outer_cos_sin(data_to_dtype(t, DType::f32), w, DType::f32); },
         "outer_cos_sin: expected times t f64 [N] and frequencies w f64 [F], got t f32[2]");
  throws([&] { outer_cos_sin(reshape(t, {1, 2}), w, DType::f32); }, "expected times t f64 [N]");
  throws([&] { outer_cos_sin(t, Tensor(), DType::f32); }, "expected times t f64 [N]");
  throws([&] { outer_cos_sin(t, w, DType::i64); }, "the result dtype must be floating, got i64");
  Tensor leaf = t.detach();
  leaf.set_requires_grad();
  throws([&] { outer_cos_sin(leaf, w, DType::f32); }, "has no backward");
}
