#pragma once
// Shared test helpers: float64 references, random inputs, finite-difference gradient checks.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "ops/ops.h"

namespace cortex::test {

bool has_gpu();
// Device for GPU cases (cuda:0); callers skip when has_gpu() is false.
inline Device gpu() { return Device::cuda(0); }

// Random normal values (never all zero) of a given shape, dtype and device; deterministic per seed.
Tensor random(const Shape& shape, uint64_t seed, DType dtype = DType::f64, Device device = Device::cpu(),
              double scale = 1.0);
// Random values in [low, high).
Tensor random_uniform(const Shape& shape, uint64_t seed, double low, double high, DType dtype = DType::f64,
                      Device device = Device::cpu());
// A non-contiguous view with the same values: stored transposed, read back through transpose.
Tensor noncontiguous(const Tensor& t);

std::vector<double> values(const Tensor& t);

// Max of |a - b| / (atol + rtol * |b|) over elements; <= 1 means close.
double closeness(const Tensor& a, const Tensor& b, double rtol, double atol);
void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what = "");

// Checks autograd gradients of sum(fn(inputs) * w) (w random) against central differences,
// in float64. Inputs must be f64 leaves; they get requires_grad set.
void gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
               double eps = 1e-6, double rtol = 1e-5, double atol = 1e-7, const std::string& what = "");

// Sizes that shake out edge cases in tiling and vectorisation.
inline const std::vector<int64_t> kAwkwardSizes{1, 3, 17, 129};

}  // namespace cortex::test

// A test case that needs a GPU: compiled everywhere, skipped (and reported so) without one.
#define CORTEX_GPU_TEST(name) TEST_CASE(name * doctest::skip(!::cortex::test::has_gpu()) * doctest::test_suite("gpu"))
