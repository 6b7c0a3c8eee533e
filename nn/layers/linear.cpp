#include "nn/layers/linear.h"

#include <cmath>

#include "engine/factory.h"
#include "ops/elementwise.h"

namespace cortex::nn {

Linear::Linear(int64_t in_features, int64_t out_features, bool with_bias, Generator* gen, DType dtype, Device device)
    : in_(in_features), out_(out_features) {
  CORTEX_CHECK(in_features > 0 && out_features > 0, "Linear", "features must be positive, got in=", in_features,
               " out=", out_features);
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_features));
  weight = register_parameter("weight", uniform({out_features, in_features}, -bound, bound, dtype, device, gen));
  if (with_bias) bias = register_parameter("bias", uniform({out_features}, -bound, bound, dtype, device, gen));
}

Tensor Linear::forward(const Tensor& x, LinearActivation act, const Tensor& residual) const {
  CORTEX_CHECK(x.defined() && x.dim() >= 1 && x.size(-1) == in_, "Linear", "expected input [..., ", in_, "], got ",
               x.describe());
  return fused_linear(x, weight, bias, act, residual);
}

Tensor add_residual_branch(const Tensor& residual, const Linear& linear, const Dropout& drop, const Tensor& x) {
  if (!drop.is_training()) return linear.forward(x, LinearActivation::none, residual);
  return add(residual, drop.forward(linear.forward(x)));
}

}  // namespace cortex::nn
