#include "nn/baselines/wiener_filter.h"

#include <algorithm>
#include <limits>

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "nn/baselines/cholesky.h"
#include "ops/linalg.h"
#include "ops/shape_ops.h"
#include "ops/views.h"

namespace cortex::nn {
namespace {

constexpr const char* kOp = "WienerFilter";

// Sufficient statistics of a set of rows (x: features, y: targets) for ridge regression.
struct GramStats {
  int64_t f = 0, o = 0;
  std::vector<double> xtx, xty, xsum, ysum, yty;  // [F*F], [F*O], [F], [O], [O]
  double n = 0;

  GramStats(int64_t features, int64_t outputs)
      : f(features),
        o(outputs),
        xtx(static_cast<size_t>(features * features)),
        xty(static_cast<size_t>(features * outputs)),
        xsum(static_cast<size_t>(features)),
        ysum(static_cast<size_t>(outputs)),
        yty(static_cast<size_t>(outputs)) {}

  void add(const GramStats& other, double sign) {
    auto acc = [sign](std::vector<double>& a, const std::vector<double>& b) {
      for (size_t i = 0; i < a.size(); ++i) a[i] += sign * b[i];
    };
    acc(xtx, other.xtx);
    acc(xty, other.xty);
    acc(xsum, other.xsum);
    acc(ysum, other.ysum);
    acc(yty, other.yty);
    n += sign * other.n;
  }

  // Adds rows x [rows, F] and y [rows, O] (row-major); the Gram products go through BLAS.
  void add_rows(const std::vector<double>& x, const std::vector<double>& y, int64_t rows) {
    if (rows == 0) return;
    const Tensor xt = from_vector(x, {rows, f}), yt = from_vector(y, {rows, o});
    const std::vector<double> g = matmul(transpose(xt, 0, 1), xt).to_vector<double>();
    const std::vector<double> gy = matmul(transpose(xt, 0, 1), yt).to_vector<double>();
    for (size_t i = 0; i < g.size(); ++i) xtx[i] += g[i];
    for (size_t i = 0; i < gy.size(); ++i) xty[i] += gy[i];
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < f; ++j) xsum[static_cast<size_t>(j)] += x[static_cast<size_t>(r * f + j)];
      for (int64_t j = 0; j < o; ++j) {
        const double v = y[static_cast<size_t>(r * o + j)];
        ysum[static_cast<size_t>(j)] += v;
        yty[static_cast<size_t>(j)] += v * v;
      }
    }
    n += static_cast<double>(rows);
  }
};

// Ridge solution [w (F x O); b (1 x O)] with the bias unpenalised.
std::vector<double> solve_ridge(const GramStats& s, double lambda) {
  const int64_t f = s.f, o = s.o, m = f + 1;
  std::vector<double> a(static_cast<size_t>(m * m)), rhs(static_cast<size_t>(m * o));
  for (int64_t i = 0; i < f; ++i) {
    for (int64_t j = 0; j < f; ++j) a[static_cast<size_t>(i * m + j)] = s.xtx[static_cast<size_t>(i * f + j)];
    a[static_cast<size_t>(i * m + i)] += lambda;
    a[static_cast<size_t>(i * m + f)] = a[static_cast<size_t>(f * m + i)] = s.xsum[static_cast<size_t>(i)];
    for (int64_t c = 0; c < o; ++c) rhs[static_cast<size_t>(i * o + c)] = s.xty[static_cast<size_t>(i * o + c)];
  }
  a[static_cast<size_t>(f * m + f)] = s.n;
  for (int64_t c = 0; c < o; ++c) rhs[static_cast<size_t>(f * o + c)] = s.ysum[static_cast<size_t>(c)];
  return solve_spd(std::move(a), m, std::move(rhs), o, kOp);
}

// Sum of squared errors of coefficients `wb` on the rows summarised by `v`.
double sse(const GramStats& v, const std::vector<double>& wb) {
  const int64_t f = v.f, o = v.o;
  double total = 0;
  for (int64_t c = 0; c < o; ++c) {
    auto w = [&](int64_t i) { return wb[static_cast<size_t>(i * o + c)]; };
    const double b = w(f);
    double wxty = 0, wgw = 0, sw = 0;
    for (int64_t i = 0; i < f; ++i) {
      wxty += w(i) * v.xty[static_cast<size_t>(i * o + c)];
      sw += v.xsum[static_cast<size_t>(i)] * w(i);
      double gw = 0;
      for (int64_t j = 0; j < f; ++j) gw += v.xtx[static_cast<size_t>(i * f + j)] * w(j);
      wgw += w(i) * gw;
    }
    total += v.yty[static_cast<size_t>(c)] - 2 * (wxty + b * v.ysum[static_cast<size_t>(c)]) + wgw + 2 * b * sw +
             b * b * v.n;
  }
  return total;
}

}  // namespace

WienerFilter::WienerFilter(const WienerConfig& config, DType dtype, Device device) : config_(config) {
  config.validate();
  weight = register_parameter("weight", zeros({config.outputs, config.units * config.lags}, dtype, device), false);
  bias = register_parameter("bias", zeros({config.outputs}, dtype, device), false);
}

WienerFitReport WienerFilter::fit(const std::vector<Tensor>& counts, const std::vector<Tensor>& behaviour) {
  const int64_t u = config_.units, lags = config_.lags, f = u * lags, o = config_.outputs;
  CORTEX_CHECK(!counts.empty() && counts.size() == behaviour.size(), kOp,
               "fit needs one behaviour per count trial, got ", counts.size(), " count and ", behaviour.size(),
               " behaviour trials");
  int64_t total = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    CORTEX_CHECK(counts[i].dim() == 2 && counts[i].size(1) == u, kOp, "trial ", i, ": counts must be [T, ", u,
                 "], got ", counts[i].describe());
    CORTEX_CHECK(behaviour[i].dim() == 2 && behaviour[i].size(0) == counts[i].size(0) && behaviour[i].size(1) == o, kOp,
                 "trial ", i, ": behaviour must be [", counts[i].size(0), ", ", o, "], got ", behaviour[i].describe());
    total += counts[i].size(0);
  }
  const int64_t folds = config_.folds;
  CORTEX_CHECK(total >= 2 * folds, kOp, "fit needs at least ", 2 * folds, " bins for ", folds, " folds, got ", total);

  NoGradGuard no_grad;
  std::vector<GramStats> fold_stats(static_cast<size_t>(folds), GramStats(f, o));
  constexpr int64_t kBlock = 2048;
  std::vector<double> xb, yb;
  int64_t row = 0;  // global row index across trials
  for (size_t trial = 0; trial < counts.size(); ++trial) {
    const std::vector<double> c = counts[trial].to_vector<double>(), y = behaviour[trial].to_vector<double>();
    const int64_t t_len = counts[trial].size(0);
    int64_t t = 0;
    while (t < t_len) {
      // Rows of one block stay within one fold.
      const int64_t fold = row * folds / total;
      const int64_t fold_end = ((fold + 1) * total + folds - 1) / folds;  // first row of the next fold
      const int64_t rows = std::min({kBlock, t_len - t, fold_end - row});
      xb.assign(static_cast<size_t>(rows * f), 0.0);
      yb.assign(y.begin() + t * o, y.begin() + (t + rows) * o);
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t lag = 0; lag < lags && lag <= t + r; ++lag)
          std::copy_n(c.begin() + (t + r - lag) * u, u, xb.begin() + r * f + lag * u);
      fold_stats[static_cast<size_t>(fold)].add_rows(xb, yb, rows);
      t += rows;
      row += rows;
    }
  }
  GramStats all(f, o);
  for (const GramStats& s : fold_stats) all.add(s, 1.0);
  double scale = 0;
  for (int64_t i = 0; i < f; ++i) scale += all.xtx[static_cast<size_t>(i * f + i)];
  scale = scale > 0 ? scale / static_cast<double>(f) : 1.0;

  WienerFitReport report;
  report.samples = total;
  double best = std::numeric_limits<double>::infinity();
  for (double rel : config_.lambdas) {
    double err = 0;
    for (const GramStats& held_out : fold_stats) {
      GramStats train = all;
      train.add(held_out, -1.0);
      err += sse(held_out, solve_ridge(train, rel * scale));
    }
    report.cv_mse.push_back(err / static_cast<double>(total * o));
    if (report.cv_mse.back() < best) {
      best = report.cv_mse.back();
      report.lambda_relative = rel;
    }
  }
  report.lambda = report.lambda_relative * scale;
  const std::vector<double> wb = solve_ridge(all, report.lambda);
  std::vector<double> w(static_cast<size_t>(o * f)), b(static_cast<size_t>(o));
  for (int64_t c = 0; c < o; ++c) {
    for (int64_t i = 0; i < f; ++i) w[static_cast<size_t>(c * f + i)] = wb[static_cast<size_t>(i * o + c)];
    b[static_cast<size_t>(c)] = wb[static_cast<size_t>(f * o + c)];
  }
  copy_(weight, from_vector(w, {o, f}, weight.device()));
  copy_(bias, from_vector(b, {o}, bias.device()));
  return report;
}

Tensor WienerFilter::lagged_features(const Tensor& counts) const {
  CORTEX_CHECK(counts.defined() && counts.dim() >= 2 && counts.size(-1) == config_.units, kOp,
               "expected counts [..., T, ", config_.units, "], got ", describe(counts));
  const Tensor x = counts.dtype() == weight.dtype() ? counts : cortex::to(counts, weight.dtype());
  const int64_t t_len = x.size(-2);
  std::vector<Tensor> blocks;
  for (int64_t lag = 0; lag < config_.lags; ++lag) {
    if (lag == 0) {
      blocks.push_back(x);
      continue;
    }
    Shape pad_shape = x.shape();
    pad_shape[pad_shape.size() - 2] = std::min(lag, t_len);
    const Tensor pad = zeros(pad_shape, x.dtype(), x.device());
    blocks.push_back(lag >= t_len ? pad : cat({pad, narrow(x, -2, 0, t_len - lag)}, -2));
  }
  return blocks.size() == 1 ? blocks[0] : cat(blocks, -1);
}

Tensor WienerFilter::forward(const Tensor& counts) const { return linear(lagged_features(counts), weight, bias); }

int64_t wiener_parameter_count(const WienerConfig& c) { return c.outputs * (c.units * c.lags + 1); }

}  // namespace cortex::nn
