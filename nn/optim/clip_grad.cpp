#include "nn/optim/clip_grad.h"

#include <cmath>

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"

namespace cortex::nn::optim {

double grad_norm(const std::vector<Tensor>& params) {
  NoGradGuard no_grad;
  // Squares summed in f64 on each gradient's device; one host read per device group.
  double total = 0.0;
  std::vector<std::pair<Device, Tensor>> partial;
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (!g.defined()) continue;
    const Tensor s = sum(square(data_to_dtype(g, DType::f64)));
    bool merged = false;
    for (auto& [dev, acc] : partial)
      if (dev == g.device()) {
        acc = add(acc, s);
        merged = true;
      }
    if (!merged) partial.emplace_back(g.device(), s);
  }
  for (const auto& [dev, acc] : partial) total += acc.item();
  return std::sqrt(total);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  CORTEX_CHECK(max_norm > 0, "clip_grad_norm", "max_norm must be positive, got ", max_norm);
  const double norm = grad_norm(params);
  if (!std::isfinite(norm) || norm <= max_norm) return norm;
  NoGradGuard no_grad;
  const double scale = max_norm / (norm + 1e-6);
  for (const Tensor& p : params) {
    const Tensor g = p.grad();
    if (g.defined()) mul_(g, scale);
  }
  return norm;
}

}  // namespace cortex::nn::optim
