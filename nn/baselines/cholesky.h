#pragma once
// Dense Cholesky factorisation and solves in double, for the closed-form ridge regression
// of the Wiener filter (normal equations are symmetric positive definite once regularised).
#include <cstdint>
#include <vector>

namespace cortex::nn {

// Factors the symmetric positive-definite n x n matrix `a` (row-major; only the lower
// triangle is read) in place into L with A = L L^T (lower triangle; the upper is zeroed).
// Returns false, leaving `a` partly overwritten, when a pivot is not positive.
bool cholesky_factor(std::vector<double>& a, int64_t n);
// Solves L L^T X = B in place for B (n x m, row-major) given the factor from cholesky_factor.
void cholesky_solve(const std::vector<double>& l, int64_t n, std::vector<double>& b, int64_t m);
// A^{-1} B for SPD A; throws cortex::Error naming `what` when A is not positive definite.
std::vector<double> solve_spd(std::vector<double> a, int64_t n, std::vector<double> b, int64_t m,
                              const char* what = "solve_spd");

}  // namespace cortex::nn
