// Cholesky solves and the Wiener filter against float64 references.
#include <random>

#include "nn/baselines/cholesky.h"
#include "nn/baselines/wiener_filter.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::nn;

namespace {

std::vector<double> random_spd(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g;
  std::vector<double> m(static_cast<size_t>(n * n)), a(static_cast<size_t>(n * n));
  for (double& v : m) v = g(rng);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = i == j ? 0.5 : 0.0;
      for (int64_t k = 0; k < n; ++k) s += m[static_cast<size_t>(i * n + k)] * m[static_cast<size_t>(j * n + k)];
      a[static_cast<size_t>(i * n + j)] = s;
    }
  return a;
}

// Gaussian elimination with partial pivoting: the independent reference solver.
std::vector<double> gauss_solve(std::vector<double> a, int64_t n, std::vector<double> b, int64_t m) {
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::abs(a[static_cast<size_t>(r * n + c)]) > std::abs(a[static_cast<size_t>(p * n + c)])) p = r;
    for (int64_t k = 0; k < n; ++k) std::swap(a[static_cast<size_t>(c * n + k)], a[static_cast<size_t>(p * n + k)]);
    for (int64_t k = 0; k < m; ++k) std::swap(b[static_cast<size_t>(c * m + k)], b[static_cast<size_t>(p * m + k)]);
    for (int64_t r = c + 1; r < n; ++r) {
      const double f = a[static_cast<size_t>(r * n + c)] / a[static_cast<size_t>(c * n + c)];
      for (int64_t k = c; k < n; ++k) a[static_cast<size_t>(r * n + k)] -= f * a[static_cast<size_t>(c * n + k)];
      for (int64_t k = 0; k < m; ++k) b[static_cast<size_t>(r * m + k)] -= f * b[static_cast<size_t>(c * m + k)];
    }
  }
  for (int64_t c = n - 1; c >= 0; --c)
    for (int64_t k = 0; k < m; ++k) {
      double s = b[static_cast<size_t>(c * m + k)];
      for (int64_t j = c + 1; j < n; ++j) s -= a[static_cast<size_t>(c * n + j)] * b[static_cast<size_t>(j * m + k)];
      b[static_cast<size_t>(c * m + k)] = s / a[static_cast<size_t>(c * n + c)];
    }
  return b;
}

struct Trials {
  std::vector<Tensor> counts, behaviour;
  std::vector<std::vector<double>> features;  // host lagged design per trial [T, U * lags]
};

// Random counts; behaviour = lagged features . w_true + bias + noise (or pure noise).
Trials make_trials(const WienerConfig& c, const std::vector<int64_t>& lengths, double noise, bool signal, uint64_t seed,
                   std::vector<double>* w_true = nullptr) {
  std::mt19937_64 rng(seed);
  std::poisson_distribution<int> spikes(0.8);
  std::normal_distribution<double> g;
  const int64_t u = c.units, f = u * c.lags, o = c.outputs;
  std::vector<double> w(static_cast<size_t>(f * o));
  for (double& v : w) v = g(rng);
  if (w_true) *w_true = w;
  Trials trials;
  for (int64_t t_len : lengths) {
    std::vector<double> cnt(static_cast<size_t>(t_len * u)), y(static_cast<size_t>(t_len * o));
    for (double& v : cnt) v = spikes(rng);
    std::vector<double> x(static_cast<size_t>(t_len * f), 0.0);
    for (int64_t t = 0; t < t_len; ++t)
      for (int64_t lag = 0; lag < c.lags && lag <= t; ++lag)
        for (int64_t j = 0; j < u; ++j)
          x[static_cast<size_t>(t * f + lag * u + j)] = cnt[static_cast<size_t>((t - lag) * u + j)];
    for (int64_t t = 0; t < t_len; ++t)
      for (int64_t k = 0; k < o; ++k) {
        double s = signal ? 0.5 * static_cast<double>(k + 1) : 0.0;
        if (signal)
          for (int64_t j = 0; j < f; ++j) s += x[static_cast<size_t>(t * f + j)] * w[static_cast<size_t>(j * o + k)];
        y[static_cast<size_t>(t * o + k)] = s + noise * g(rng);
      }
    trials.counts.push_back(data_to_dtype(from_vector(cnt, {t_len, u}), DType::f32));
    trials.behaviour.push_back(data_to_dtype(from_vector(y, {t_len, o}), DType::f32));
    trials.features.push_back(x);
  }
  return trials;
}

WienerConfig small_wiener() {
  WienerConfig c;
  c.units = 5;
  c.lags = 3;
  c.folds = 4;
  return c;
}

}  // namespace

TEST_CASE("Cholesky factor reproduces the matrix and solves against Gaussian elimination") {
  for (int64_t n : {1, 3, 17, 64, 200}) {  // 200: past LAPACK's blocking size
    INFO("n=", n);
    const std::vector<double> a = random_spd(n, 10 + static_cast<uint64_t>(n));
    std::vector<double> l = a;
    // Only the lower triangle may be read: poison the strict upper one.
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) l[static_cast<size_t>(i * n + j)] = std::nan("");
    REQUIRE(cholesky_factor(l, n));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (int64_t k = 0; k < n; ++k) s += l[static_cast<size_t>(i * n + k)] * l[static_cast<size_t>(j * n + k)];
        CHECK(std::abs(s - a[static_cast<size_t>(i * n + j)]) <=
              1e-10 * (1 + std::abs(a[static_cast<size_t>(i * n + j)])));
      }
    std::vector<double> b(static_cast<size_t>(n * 3));
    for (size_t i = 0; i < b.size(); ++i) b[i] = std::sin(static_cast<double>(i) + 0.3);
    const std::vector<double> x = solve_spd(a, n, b, 3), ref = gauss_solve(a, n, b, 3);
    for (size_t i = 0; i < x.size(); ++i) CHECK(std::abs(x[i] - ref[i]) <= 1e-9 * (1 + std::abs(ref[i])));
  }
}

TEST_CASE("Cholesky rejects matrices that are not positive definite") {
  std::vector<double> indefinite{1, 2, 2, 1};
  CHECK_FALSE(cholesky_factor(indefinite, 2));
  CHECK_THROWS_WITH_AS(solve_spd({0, 0, 0, 0}, 2, {1, 1}, 1, "ridge"), doctest::Contains("not positive definite"),
                       Error);
}

TEST_CASE("the Wiener filter fit equals the float64 ridge solution of its lagged design") {
  WienerConfig c = small_wiener();
  c.lambdas = {0.05};
  const Trials trials = make_trials(c, {40, 33, 57}, 0.3, true, 1);
  WienerFilter filter(c);
  const WienerFitReport report = filter.fit(trials.counts, trials.behaviour);
  REQUIRE(report.cv_mse.size() == 1);
  CHECK(report.samples == 130);

  // Reference: explicit augmented normal equations with the same absolute lambda.
  const int64_t f = c.units * c.lags, o = c.outputs, m = f + 1;
  std::vector<double> a(static_cast<size_t>(m * m), 0.0), rhs(static_cast<size_t>(m * o), 0.0);
  for (size_t tr = 0; tr < trials.features.size(); ++tr) {
    const std::vector<double> y = trials.behaviour[tr].to_vector<double>();
    const int64_t t_len = trials.counts[tr].size(0);
    for (int64_t t = 0; t < t_len; ++t) {
      std::vector<double> row(trials.features[tr].begin() + t * f, trials.features[tr].begin() + (t + 1) * f);
      row.push_back(1.0);
      for (int64_t i = 0; i < m; ++i) {
        for (int64_t j = 0; j < m; ++j)
          a[static_cast<size_t>(i * m + j)] += row[static_cast<size_t>(i)] * row[static_cast<size_t>(j)];
        for (int64_t k = 0; k < o; ++k)
          rhs[static_cast<size_t>(i * o + k)] += row[static_cast<size_t>(i)] * y[static_cast<size_t>(t * o + k)];
      }
    }
  }
  for (int64_t i = 0; i < f; ++i) a[static_cast<size_t>(i * m + i)] += report.lambda;
  const std::vector<double> ref = gauss_solve(a, m, rhs, o);
  const std::vector<double> w = filter.weight.to_vector<double>(), b = filter.bias.to_vector<double>();
  for (int64_t k = 0; k < o; ++k) {
    for (int64_t i = 0; i < f; ++i) {
      const double expected = ref[static_cast<size_t>(i * o + k)];
      CHECK(std::abs(w[static_cast<size_t>(k * f + i)] - expected) <= 1e-5 * (1 + std::abs(expected)));
    }
    CHECK(std::abs(b[static_cast<size_t>(k)] - ref[static_cast<size_t>(f * o + k)]) <= 1e-5);
  }

  // forward applies the same design: predictions match features . w + b on the host.
  const Tensor pred = filter.forward(trials.counts[1]);
  const std::vector<double> p = pred.to_vector<double>();
  const int64_t t_len = trials.counts[1].size(0);
  for (int64_t t = 0; t < t_len; ++t)
    for (int64_t k = 0; k < o; ++k) {
      double s = b[static_cast<size_t>(k)];
      for (int64_t i = 0; i < f; ++i)
        s += trials.features[1][static_cast<size_t>(t * f + i)] * w[static_cast<size_t>(k * f + i)];
      CHECK(std::abs(p[static_cast<size_t>(t * o + k)] - s) <= 1e-4 * (1 + std::abs(s)));
    }
}

TEST_CASE("cross-validation picks a weak ridge for clean signal and a strong one for noise") {
  WienerConfig c = small_wiener();
  c.lambdas = {1e-6, 1e-2, 1.0, 100.0};
  std::vector<double> w_true;
  const Trials clean = make_trials(c, {60, 60, 60}, 0.01, true, 2, &w_true);
  WienerFilter filter(c);
  const WienerFitReport r = filter.fit(clean.counts, clean.behaviour);
  CHECK(r.lambda_relative == doctest::Approx(1e-6));
  const std::vector<double> w = filter.weight.to_vector<double>();
  const int64_t f = c.units * c.lags;
  for (int64_t k = 0; k < c.outputs; ++k)
    for (int64_t i = 0; i < f; ++i)
      CHECK(w[static_cast<size_t>(k * f + i)] ==
            doctest::Approx(w_true[static_cast<size_t>(i * c.outputs + k)]).epsilon(0.01).scale(1.0));

  const Trials noise = make_trials(c, {60, 60, 60}, 1.0, false, 3);
  // Noise alone: strong ridges beat weak ones (which of the strong ones wins is chance).
  const WienerFitReport rn = WienerFilter(c).fit(noise.counts, noise.behaviour);
  CHECK(rn.lambda_relative >= 1.0);
  CHECK(rn.cv_mse.front() > rn.cv_mse.back());
}

TEST_CASE("the Wiener filter checks its input") {
  WienerConfig c = small_wiener();
  WienerFilter filter(c);
  CHECK(filter.num_parameters() == wiener_parameter_count(c));
  CHECK_THROWS_WITH_AS(filter.forward(zeros({4, 6})), doctest::Contains("expected counts [..., T, 5]"), Error);
  CHECK_THROWS_WITH_AS(filter.fit({zeros({4, 5})}, {zeros({3, 2})}), doctest::Contains("behaviour must be [4, 2]"),
                       Error);
  CHECK_THROWS_WITH_AS(filter.fit({zeros({4, 5})}, {zeros({4, 2})}), doctest::Contains("at least 8 bins"), Error);
  // Sequences shorter than the lag window and batched input both work.
  CHECK(filter.forward(zeros({3, 2, 5})).shape() == Shape{3, 2, 2});
}
