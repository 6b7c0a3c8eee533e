// Smoothing of decoded velocity (train/output_smoothing.h) against a float64 reference written
// from the definition, on random values of awkward sizes; causality of the causal kernel;
// trials kept apart; and bad input.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <tuple>

#include "engine/error.h"
#include "train/output_smoothing.h"

using namespace cortex;
using namespace cortex::train;

namespace {

std::vector<float> random_values(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.5f, 2.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

// out[t] = sum_s w(t - s) in[s] / sum_s w(t - s) over the bins s of the same trial with
// |t - s| <= ceil(3 sigma) (and s <= t when causal), w(d) = exp(-d^2 / (2 sigma^2)).
double reference_at(const std::vector<float>& in, int64_t trial, int64_t t, int64_t c, int64_t bins, int64_t outputs,
                    double sigma, bool causal) {
  const int64_t radius = static_cast<int64_t>(std::ceil(3 * sigma));
  double num = 0, den = 0;
  for (int64_t s = 0; s < bins; ++s) {
    const int64_t d = t - s;
    if (std::abs(d) > radius || (causal && d < 0)) continue;
    const double w = std::exp(-static_cast<double>(d * d) / (2 * sigma * sigma));
    num += w * in[static_cast<size_t>((trial * bins + s) * outputs + c)];
    den += w;
  }
  return num / den;
}

}  // namespace

TEST_CASE("smoothing matches the float64 definition for both kernels, sizes and widths") {
  for (bool causal : {false, true})
    for (double sigma : {0.4, 1.0, 2.5, 6.0, 40.0})
      for (const auto& [trials, bins, outputs] :
           std::vector<std::tuple<int64_t, int64_t, int64_t>>{{1, 1, 1}, {3, 37, 2}, {2, 5, 3}}) {
        CAPTURE(causal);
        CAPTURE(sigma);
        CAPTURE(bins);
        const std::vector<float> in = random_values(static_cast<size_t>(trials * bins * outputs), 7);
        std::vector<float> out = in;
        smooth_predictions(out, bins, outputs, sigma, causal);
        for (int64_t n = 0; n < trials; ++n)
          for (int64_t t = 0; t < bins; ++t)
            for (int64_t c = 0; c < outputs; ++c)
              REQUIRE(out[static_cast<size_t>((n * bins + t) * outputs + c)] ==
                      doctest::Approx(reference_at(in, n, t, c, bins, outputs, sigma, causal)).epsilon(1e-6));
      }
}

TEST_CASE("sigma 0 leaves predictions unchanged and constants stay constant at the trial's edges") {
  const std::vector<float> in = random_values(3 * 11 * 2, 3);
  std::vector<float> out = in;
  smooth_predictions(out, 11, 2, 0.0, false);
  CHECK(out == in);
  for (bool causal : {false, true}) {
    std::vector<float> constant(2 * 9, 3.25f);
    smooth_predictions(constant, 9, 1, 2.0, causal);
    for (float v : constant) CHECK(v == doctest::Approx(3.25f).epsilon(1e-6));
  }
}

TEST_CASE("the causal kernel never looks ahead; the symmetric one does; trials stay apart") {
  const int64_t bins = 30, outputs = 2, t0 = 12;
  const std::vector<float> base = random_values(static_cast<size_t>(2 * bins * outputs), 11);
  std::vector<float> bumped = base;
  bumped[static_cast<size_t>(t0 * outputs)] += 5.0f;  // trial 0, bin t0, output 0
  for (bool causal : {true, false}) {
    std::vector<float> a = base, b = bumped;
    smooth_predictions(a, bins, outputs, 3.0, causal);
    smooth_predictions(b, bins, outputs, 3.0, causal);
    const bool earlier_moved = a[static_cast<size_t>((t0 - 1) * outputs)] != b[static_cast<size_t>((t0 - 1) * outputs)];
    CHECK(earlier_moved == !causal);
    for (int64_t t = 0; t < t0; ++t)
      if (causal) CHECK(a[static_cast<size_t>(t * outputs)] == b[static_cast<size_t>(t * outputs)]);
    CHECK(a[static_cast<size_t>(t0 * outputs)] != b[static_cast<size_t>(t0 * outputs)]);
    for (int64_t i = bins * outputs; i < 2 * bins * outputs; ++i) CHECK(a[static_cast<size_t>(i)] == b[static_cast<size_t>(i)]);
    for (int64_t t = 0; t < bins; ++t) CHECK(a[static_cast<size_t>(t * outputs + 1)] == b[static_cast<size_t>(t * outputs + 1)]);
  }
}

TEST_CASE("smoothing takes jitter off a slow signal") {
  const int64_t bins = 140;
  std::vector<float> signal(bins), noisy(bins);
  std::mt19937 rng(5);
  std::normal_distribution<float> jitter(0.0f, 0.3f);
  for (int64_t t = 0; t < bins; ++t) {
    signal[static_cast<size_t>(t)] = static_cast<float>(std::sin(2 * M_PI * t / 100.0));
    noisy[static_cast<size_t>(t)] = signal[static_cast<size_t>(t)] + jitter(rng);
  }
  auto mse = [&](const std::vector<float>& v) {
    double e = 0;
    for (int64_t t = 0; t < bins; ++t) e += std::pow(v[static_cast<size_t>(t)] - signal[static_cast<size_t>(t)], 2);
    return e / bins;
  };
  std::vector<float> smoothed = noisy;
  smooth_predictions(smoothed, bins, 1, 4.0, false);
  CHECK(mse(smoothed) < 0.25 * mse(noisy));
}

TEST_CASE("smoothing rejects bad widths and sizes") {
  std::vector<float> v(10, 1.0f);
  CHECK_THROWS_AS(smooth_predictions(v, 5, 2, -1.0, false), Error);
  CHECK_THROWS_AS(smooth_predictions(v, 5, 2, std::nan(""), false), Error);
  CHECK_THROWS_AS(smooth_predictions(v, 3, 2, 1.0, false), Error);  // 10 values are not trials of 3 x 2
  CHECK_THROWS_AS(smooth_predictions(v, 0, 2, 1.0, false), Error);
}
