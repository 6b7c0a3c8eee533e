#include "tests/test_util.h"

#include <algorithm>

namespace cortex::test {

bool has_gpu() { return device_count(DeviceType::CUDA) > 0; }

Tensor random(const Shape& shape, uint64_t seed, DType dtype, Device device, double scale) {
  Generator g(seed);
  Tensor t = normal(shape, 0.0, scale, DType::f64, Device::cpu(), &g);
  return data_to_device(data_to_dtype(t, dtype), device);
}

Tensor random_uniform(const Shape& shape, uint64_t seed, double low, double high, DType dtype, Device device) {
  Generator g(seed);
  Tensor t = uniform(shape, low, high, DType::f64, Device::cpu(), &g);
  return data_to_device(data_to_dtype(t, dtype), device);
}

Tensor noncontiguous(const Tensor& t) {
  if (t.dim() < 2) {
    // Every other element of a buffer twice as long.
    Tensor wide = zeros({t.numel() * 2}, t.dtype(), t.device());
    Tensor view = t.dim() == 0 ? wide.view_as_strided({}, {}, 0) : wide.view_as_strided(t.shape(), {2}, 0);
    copy_(view, t);
    return view;
  }
  Tensor stored = contiguous_copy(transpose_data(t, -1, -2));
  return transpose_data(stored, -1, -2);
}

std::vector<double> values(const Tensor& t) { return t.to_vector<double>(); }

double closeness(const Tensor& a, const Tensor& b, double rtol, double atol) {
  const auto va = values(a), vb = values(b);
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) {
    if (std::isnan(va[i]) || std::isnan(vb[i])) {
      if (std::isnan(va[i]) != std::isnan(vb[i])) return INFINITY;
      continue;
    }
    worst = std::max(worst, std::abs(va[i] - vb[i]) / (atol + rtol * std::abs(vb[i])));
  }
  return worst;
}

void expect_close(const Tensor& actual, const Tensor& expected, double rtol, double atol, const std::string& what) {
  INFO(what);
  REQUIRE(actual.defined());
  REQUIRE(expected.defined());
  REQUIRE_MESSAGE(actual.shape() == expected.shape(), "shape ", shape_str(actual.shape()), " vs expected ",
                  shape_str(expected.shape()));
  const double c = closeness(actual, expected, rtol, atol);
  CHECK_MESSAGE(c <= 1.0, "max scaled error ", c, " (rtol ", rtol, ", atol ", atol, ")");
}

void gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& inputs,
               double eps, double rtol, double atol, const std::string& what) {
  INFO("gradcheck ", what);
  std::vector<Tensor> leaves;
  for (const Tensor& in : inputs) {
    REQUIRE(in.dtype() == DType::f64);
    Tensor leaf = contiguous_copy(in);
    leaf.set_requires_grad(true);
    leaves.push_back(leaf);
  }
  Tensor out = fn(leaves);
  const Tensor weights = random(out.shape(), 977, DType::f64, out.device());
  backward(sum(mul(out, weights)));

  NoGradGuard no_grad;
  auto objective = [&](const std::vector<Tensor>& xs) { return sum(mul(fn(xs), weights)).item(); };
  for (size_t i = 0; i < leaves.size(); ++i) {
    INFO("input ", i, " ", leaves[i].describe());
    Tensor analytic = leaves[i].grad();
    REQUIRE_MESSAGE(analytic.defined(), "no gradient reached input ", i);
    const auto a = values(analytic);
    std::vector<double> host = values(leaves[i]);
    for (size_t j = 0; j < host.size(); ++j) {
      auto perturbed = [&](double delta) {
        std::vector<double> h = host;
        h[j] += delta;
        std::vector<Tensor> xs;
        for (size_t k = 0; k < leaves.size(); ++k)
          xs.push_back(k == i ? from_vector(h, leaves[i].shape(), leaves[i].device()) : leaves[k].detach());
        return objective(xs);
      };
      const double numeric = (perturbed(eps) - perturbed(-eps)) / (2 * eps);
      const double err = std::abs(a[j] - numeric) / (atol + rtol * std::abs(numeric));
      if (err > 1.0) {
        FAIL_CHECK("element ", j, ": analytic ", a[j], " vs numeric ", numeric);
        return;
      }
    }
  }
}

}  // namespace cortex::test
