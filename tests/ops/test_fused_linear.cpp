// fused_linear on the CPU (the composition linear + activation, which is also its reference
// and backward): float64 loops, finite-difference gradients and operand errors.
#include <cmath>

#include "ops/elementwise.h"
#include "ops/fused_linear.h"
#include "ops/views.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

double gelu_tanh(double x) { return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x))); }

}  // namespace

TEST_CASE("fused_linear matches float64 loops with and without bias and GELU") {
  for (int64_t m : {1, 3, 17})
    for (bool with_bias : {false, true})
      for (LinearActivation act : {LinearActivation::none, LinearActivation::gelu}) {
        INFO("M=", m, " bias=", with_bias, " gelu=", act == LinearActivation::gelu);
        const int64_t k = 5, n = 7;
        const Tensor x = random({2, m, k}, 3 + m), w = random({n, k}, 5);
        const Tensor b = with_bias ? random({n}, 7) : Tensor();
        const auto xv = values(x), wv = values(w);
        const auto bv = with_bias ? values(b) : std::vector<double>(n, 0.0);
        std::vector<double> want;
        for (int64_t r = 0; r < 2 * m; ++r)
          for (int64_t c = 0; c < n; ++c) {
            double s = bv[c];
            for (int64_t i = 0; i < k; ++i) s += xv[r * k + i] * wv[c * k + i];
            want.push_back(act == LinearActivation::gelu ? gelu_tanh(s) : s);
          }
        const Tensor y = fused_linear(x, w, b, act);
        CHECK(y.shape() == Shape{2, m, n});
        expect_close(y, from_vector(want, {2, m, n}), 1e-12, 1e-12);
      }
}

TEST_CASE("fused_linear adds a residual after the bias") {
  const Tensor x = random({2, 3, 4}, 31), w = random({5, 4}, 32), b = random({5}, 33), r = random({2, 3, 5}, 34);
  expect_close(fused_linear(x, w, b, LinearActivation::none, r),
               add(r, fused_linear(x, w, b, LinearActivation::none)), 1e-15, 1e-15);
  CHECK_THROWS_WITH_AS(fused_linear(x, w, b, LinearActivation::gelu, r), doctest::Contains("no activation"),
                       cortex::Error);
  CHECK_THROWS_WITH_AS(fused_linear(x, w, b, LinearActivation::none, random({2, 5}, 35)),
                       doctest::Contains("must match the output"), cortex::Error);
}

TEST_CASE("fused_linear gradients match finite differences") {
  gradcheck([](const std::vector<Tensor>& in) { return fused_linear(in[0], in[1], in[2], LinearActivation::none, in[3]); },
            {random({4, 3}, 36), random({5, 3}, 37), random({5}, 38), random({4, 5}, 39)});
  const Tensor x = random({4, 3}, 11), w = random({5, 3}, 12), b = random({5}, 13);
  gradcheck([](const std::vector<Tensor>& in) { return fused_linear(in[0], in[1], in[2], LinearActivation::gelu); },
            {x, w, b});
}

TEST_CASE("fused_linear rejects mismatched operands with a clear error") {
  const Tensor x = random({4, 3}, 21), w = random({5, 3}, 22);
  CHECK_THROWS_WITH_AS(fused_linear(x, random({5, 4}, 23), Tensor(), LinearActivation::none),
                       doctest::Contains("does not match weight"), cortex::Error);
  CHECK_THROWS_WITH_AS(fused_linear(x, w, random({4}, 24), LinearActivation::none),
                       doctest::Contains("bias"), cortex::Error);
}
