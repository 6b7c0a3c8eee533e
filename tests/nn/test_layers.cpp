#include <cmath>

#include "nn/layers/drop_path.h"
#include "nn/layers/dropout.h"
#include "nn/layers/embedding.h"
#include "nn/layers/linear.h"
#include "nn/layers/norm.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

TEST_CASE("Linear starts uniform in +-1/sqrt(in) and computes x W^T + b") {
  for (int64_t in : kAwkwardSizes) {
    INFO("in=", in);
    Generator g(4);
    nn::Linear lin(in, 5, true, &g, DType::f64);
    CHECK(lin.weight.shape() == Shape{5, in});
    CHECK(lin.bias.shape() == Shape{5});
    const double bound = 1.0 / std::sqrt(static_cast<double>(in));
    double lo = 1, hi = -1;
    for (double w : values(lin.weight)) {
      lo = std::min(lo, w);
      hi = std::max(hi, w);
    }
    CHECK(lo >= -bound);
    CHECK(hi <= bound);
    if (in >= 17) CHECK(hi - lo > bound);  // spread over the range, not a constant
    for (double b : values(lin.bias)) CHECK(std::abs(b) <= bound);

    Tensor x = random({3, 2, in}, 5);
    const auto xv = values(x), wv = values(lin.weight), bv = values(lin.bias);
    std::vector<double> expected(3 * 2 * 5);
    for (int64_t r = 0; r < 6; ++r)
      for (int64_t o = 0; o < 5; ++o) {
        double acc = bv[o];
        for (int64_t k = 0; k < in; ++k) acc += xv[r * in + k] * wv[o * in + k];
        expected[r * 5 + o] = acc;
      }
    expect_close(lin.forward(x), from_vector(expected, {3, 2, 5}), 1e-12, 1e-12);
  }
  // The same generator seed gives the same weights.
  Generator g1(7), g2(7);
  CHECK(values(nn::Linear(4, 3, true, &g1).weight) == values(nn::Linear(4, 3, true, &g2).weight));
  nn::Linear no_bias(4, 3, false);
  CHECK_FALSE(no_bias.bias.defined());
  CHECK(no_bias.named_parameters().size() == 1);
  CHECK_THROWS_WITH_AS(no_bias.forward(zeros({2, 5})), doctest::Contains("expected input [..., 4]"), Error);
  CHECK_THROWS_WITH_AS(nn::Linear(0, 3), doctest::Contains("positive"), Error);
}

TEST_CASE("Linear gradients pass the finite-difference check") {
  Generator g(3);
  nn::Linear lin(3, 4, true, &g, DType::f64);
  gradcheck([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
            {random({2, 3}, 1), contiguous_copy(lin.weight.detach()), contiguous_copy(lin.bias.detach())});
  // Backward through the module fills the registered parameters' gradients.
  backward(sum(lin.forward(random({5, 3}, 2))));
  REQUIRE(lin.bias.grad().defined());
  CHECK(values(lin.bias.grad()) == std::vector<double>(4, 5.0));
}

TEST_CASE("Embedding picks rows and is left out of weight decay") {
  Generator g(2);
  nn::Embedding emb(7, 3, &g, DType::f64);
  Tensor ids = from_vector(std::vector<int64_t>{6, 0, 6, 2}, {2, 2});
  Tensor out = emb.forward(ids);
  CHECK(out.shape() == Shape{2, 2, 3});
  const auto table = values(emb.weight), got = values(out);
  const int64_t picks[] = {6, 0, 6, 2};
  for (int i = 0; i < 4; ++i)
    for (int d = 0; d < 3; ++d) CHECK(got[i * 3 + d] == table[picks[i] * 3 + d]);
  CHECK_FALSE(emb.decays("weight", emb.weight));
  CHECK_THROWS_AS(emb.forward(from_vector(std::vector<int64_t>{7}, {1})), Error);
}

TEST_CASE("RMSNorm and LayerNorm modules match the float64 formulas") {
  Tensor x = random({3, 17}, 1);
  nn::RMSNorm rms(17, 1e-6, DType::f64);
  nn::LayerNorm ln(17, 1e-5, true, DType::f64);
  copy_(rms.weight, random({17}, 2));
  copy_(ln.weight, random({17}, 3));
  copy_(ln.bias, random({17}, 4));
  const auto xv = values(x), rw = values(rms.weight), lw = values(ln.weight), lb = values(ln.bias);
  std::vector<double> er(xv.size()), el(xv.size());
  for (int r = 0; r < 3; ++r) {
    double ss = 0, mean = 0, var = 0;
    for (int c = 0; c < 17; ++c) ss += xv[r * 17 + c] * xv[r * 17 + c], mean += xv[r * 17 + c];
    mean /= 17;
    for (int c = 0; c < 17; ++c) var += (xv[r * 17 + c] - mean) * (xv[r * 17 + c] - mean);
    var /= 17;
    for (int c = 0; c < 17; ++c) {
      er[r * 17 + c] = xv[r * 17 + c] / std::sqrt(ss / 17 + 1e-6) * rw[c];
      el[r * 17 + c] = (xv[r * 17 + c] - mean) / std::sqrt(var + 1e-5) * lw[c] + lb[c];
    }
  }
  expect_close(rms.forward(x), from_vector(er, {3, 17}), 1e-10, 1e-12, "rms");
  expect_close(ln.forward(x), from_vector(el, {3, 17}), 1e-10, 1e-12, "layer");
  nn::LayerNorm no_bias(4, 1e-5, false);
  CHECK(no_bias.named_parameters().size() == 1);
  CHECK(values(nn::RMSNorm(5).weight) == std::vector<double>(5, 1.0));
  CHECK_THROWS_WITH_AS(nn::RMSNorm(4, 0.0), doctest::Contains("eps"), Error);
}

TEST_CASE("Dropout drops while training and is the identity in eval mode") {
  Generator g(8);
  nn::Dropout drop(0.25, &g);
  Tensor x = random_uniform({64, 64}, 1, 0.5, 1.5);
  const auto xv = values(x);
  const auto yv = values(drop.forward(x));
  int zeros_seen = 0;
  for (size_t i = 0; i < xv.size(); ++i) {
    if (yv[i] == 0) ++zeros_seen;
    else CHECK(yv[i] == doctest::Approx(xv[i] / 0.75));
  }
  CHECK(zeros_seen > 4096 * 0.2);
  CHECK(zeros_seen < 4096 * 0.3);
  drop.eval();
  CHECK(values(drop.forward(x)) == xv);
  CHECK_THROWS_WITH_AS(nn::Dropout(1.0), doctest::Contains("[0, 1)"), Error);
}

TEST_CASE("DropPath keeps or zeroes whole samples while training and is the identity in eval mode") {
  Generator g(9);
  nn::DropPath drop(0.4, &g);
  const int64_t samples = 400, rows = 3, cols = 5;
  Tensor x = random_uniform({samples, rows, cols}, 2, 0.5, 1.5);
  const auto xv = values(x);
  const auto yv = values(drop.forward(x));
  int dropped = 0;
  for (int64_t b = 0; b < samples; ++b) {
    const size_t first = static_cast<size_t>(b * rows * cols);
    const bool zero = yv[first] == 0;
    dropped += zero ? 1 : 0;
    for (size_t i = first; i < first + static_cast<size_t>(rows * cols); ++i) {
      INFO("sample ", b, " element ", i);
      if (zero) CHECK(yv[i] == 0);
      else CHECK(yv[i] == doctest::Approx(xv[i] / 0.6));
    }
  }
  CHECK(dropped > samples * 0.3);
  CHECK(dropped < samples * 0.5);
  drop.eval();
  CHECK(values(drop.forward(x)) == xv);
  drop.train();
  CHECK(values(nn::DropPath(0.0, &g).forward(x)) == xv);
  CHECK_THROWS_WITH_AS(nn::DropPath(1.0), doctest::Contains("[0, 1)"), Error);
}

TEST_CASE("drop-path rates rise linearly from 0 at the first block to p at the last") {
  CHECK(nn::drop_path_rate(0.3, 0, 4) == 0.0);
  CHECK(nn::drop_path_rate(0.3, 1, 4) == doctest::Approx(0.1));
  CHECK(nn::drop_path_rate(0.3, 3, 4) == doctest::Approx(0.3));
  CHECK(nn::drop_path_rate(0.3, 0, 1) == 0.3);
  CHECK_THROWS_WITH_AS(nn::drop_path_rate(0.3, 4, 4), doctest::Contains("block 4 of 4"), Error);
}
