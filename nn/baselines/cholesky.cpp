#include "nn/baselines/cholesky.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

// LAPACK's Cholesky from the OpenBLAS the project links (LP64: Fortran INTEGER is int).
extern "C" void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info);

namespace cortex::nn {

bool cholesky_factor(std::vector<double>& a, int64_t n) {
  CORTEX_CHECK(static_cast<int64_t>(a.size()) == n * n, "cholesky_factor", "expected ", n * n, " values for ", n,
               " x ", n, ", got ", a.size());
  CORTEX_CHECK(n <= std::numeric_limits<int>::max(), "cholesky_factor", n, " x ", n, " exceeds LAPACK's int sizes");
  if (n == 0) return true;
  // Row-major lower triangle = column-major upper triangle of the same memory, so LAPACK's
  // blocked 'U' factorisation (A = U^T U) leaves exactly our row-major L (A = L L^T).
  const char uplo = 'U';
  const int order = static_cast<int>(n);
  int info = 0;
  dpotrf_(&uplo, &order, a.data(), &order, &info);
  CORTEX_CHECK(info >= 0, "cholesky_factor", "LAPACK dpotrf rejected argument ", -info);
  if (info > 0) return false;  // the leading minor of order `info` is not positive definite
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(a[static_cast<size_t>(i * n + i)])) return false;
    std::fill(a.begin() + i * n + i + 1, a.begin() + (i + 1) * n, 0.0);
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
