#include <cmath>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

TEST_CASE("dropout keeps about 1-p of the elements and scales them by 1/(1-p)") {
  const int64_t n = 200000;
  for (double p : {0.1, 0.5, 0.9})
    for (DType dtype : {DType::f32, DType::bf16}) {
      INFO("p=", p, " ", std::string(dtype_name(dtype)));
      Tensor x = random_uniform({n / 100, 100}, 1, 0.5, 2.0, dtype);  // never zero
      Generator gen(7);
      const auto xv = values(x), yv = values(dropout(x, p, true, &gen));
      int64_t kept = 0;
      double worst = 0;
      for (size_t i = 0; i < xv.size(); ++i) {
        if (yv[i] == 0.0) continue;
        ++kept;
        worst = std::max(worst, std::abs(yv[i] - xv[i] / (1 - p)) / (xv[i] / (1 - p)));
      }
      // Binomial: 5 standard deviations of the kept fraction.
      const double fraction = static_cast<double>(kept) / n, sigma = std::sqrt(p * (1 - p) / n);
      CHECK(std::abs(fraction - (1 - p)) < 5 * sigma);
      CHECK(worst < (dtype == DType::f32 ? 1e-6 : 8e-3));
    }
}

TEST_CASE("dropout preserves the mean in expectation") {
  Generator gen(11);
  Tensor y = dropout(ones({400, 500}, DType::f32), 0.3, true, &gen);
  CHECK(mean(y).item() == doctest::Approx(1.0).epsilon(0.01));
}

TEST_CASE("dropout masks are reproducible from the seed and fresh on every call") {
  Tensor x = random({64, 33}, 1, DType::f32);
  Generator a(42), b(42), c(43);
  const auto first = values(dropout(x, 0.5, true, &a));
  CHECK(first == values(dropout(x, 0.5, true, &b)));
  CHECK(first != values(dropout(x, 0.5, true, &c)));
  CHECK(first != values(dropout(x, 0.5, true, &a)));  // the generator moved on
}

TEST_CASE("dropout is the identity in eval mode and for p = 0; p = 1 drops everything") {
  Tensor x = random({3, 17}, 2, DType::f32);
  Generator gen(1);
  const auto before = gen.stream();
  CHECK(dropout(x, 0.5, false, &gen).impl() == x.impl());
  CHECK(dropout(x, 0.0, true, &gen).impl() == x.impl());
  CHECK(gen.stream() == before);  // no random numbers drawn
  for (double v : values(dropout(x, 1.0, true, &gen))) CHECK(v == 0.0);
}

TEST_CASE("dropout gradient is the scaled mask") {
  Tensor x = random({5, 7}, 3).set_requires_grad();
  Generator gen(5);
  Tensor y = dropout(x, 0.4, true, &gen);
  backward(sum(y));
  const auto yv = values(y), gv = values(x.grad());
  for (size_t i = 0; i < yv.size(); ++i) CHECK(gv[i] == doctest::Approx(yv[i] == 0.0 ? 0.0 : 1 / 0.6));
  gradcheck([](const std::vector<Tensor>& in) {
    Generator same(9);  // the same mask on every evaluation
    return dropout(in[0], 0.3, true, &same);
  }, {random({4, 6}, 4)}, 1e-6, 1e-5, 1e-7, "dropout");
}

TEST_CASE("dropout rejects bad probabilities and integer input") {
  CHECK_THROWS_WITH_AS(dropout(zeros({2}), 1.5, true), doctest::Contains("dropout: probability must lie in [0, 1]"),
                       Error);
  CHECK_THROWS_WITH_AS(dropout(zeros({2}), -0.1, true), doctest::Contains("probability"), Error);
  CHECK_THROWS_WITH_AS(dropout(zeros({2}, DType::i64), 0.5, true), doctest::Contains("floating"), Error);
}
