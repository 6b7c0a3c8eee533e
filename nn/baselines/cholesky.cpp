#include "nn/baselines/cholesky.h"

#include <cmath>

#include "engine/error.h"

namespace cortex::nn {

bool cholesky_factor(std::vector<double>& a, int64_t n) {
  CORTEX_CHECK(static_cast<int64_t>(a.size()) == n * n, "cholesky_factor", "expected ", n * n, " values for ", n,
               " x ", n, ", got ", a.size());
  // Row-oriented Cholesky-Banachiewicz: row i of L from rows 0..i-1 (contiguous dot products).
  for (int64_t i = 0; i < n; ++i) {
    double* li = &a[static_cast<size_t>(i * n)];
    for (int64_t j = 0; j <= i; ++j) {
      const double* lj = &a[static_cast<size_t>(j * n)];
      double s = li[j];
      for (int64_t k = 0; k < j; ++k) s -= li[k] * lj[k];
      if (j == i) {
        if (!(s > 0.0) || !std::isfinite(s)) return false;
        li[i] = std::sqrt(s);
      } else {
        li[j] = s / lj[j];
      }
    }
    for (int64_t j = i + 1; j < n; ++j) li[j] = 0.0;
  }
  return true;
}

void cholesky_solve(const std::vector<double>& l, int64_t n, std::vector<double>& b, int64_t m) {
  CORTEX_CHECK(static_cast<int64_t>(l.size()) == n * n && static_cast<int64_t>(b.size()) == n * m, "cholesky_solve",
               "expected L ", n, " x ", n, " and B ", n, " x ", m, ", got ", l.size(), " and ", b.size(), " values");
  // Forward: L Y = B.
  for (int64_t i = 0; i < n; ++i) {
    const double* li = &l[static_cast<size_t>(i * n)];
    for (int64_t c = 0; c < m; ++c) {
      double s = b[static_cast<size_t>(i * m + c)];
      for (int64_t k = 0; k < i; ++k) s -= li[k] * b[static_cast<size_t>(k * m + c)];
      b[static_cast<size_t>(i * m + c)] = s / li[i];
    }
  }
  // Backward: L^T X = Y.
  for (int64_t i = n - 1; i >= 0; --i) {
    for (int64_t c = 0; c < m; ++c) {
      double s = b[static_cast<size_t>(i * m + c)];
      for (int64_t k = i + 1; k < n; ++k) s -= l[static_cast<size_t>(k * n + i)] * b[static_cast<size_t>(k * m + c)];
      b[static_cast<size_t>(i * m + c)] = s / l[static_cast<size_t>(i * n + i)];
    }
  }
}

std::vector<double> solve_spd(std::vector<double> a, int64_t n, std::vector<double> b, int64_t m, const char* what) {
  CORTEX_CHECK(cholesky_factor(a, n), what, "the ", n, " x ", n,
               " system is not positive definite (increase the ridge strength)");
  cholesky_solve(a, n, b, m);
  return b;
}

}  // namespace cortex::nn
