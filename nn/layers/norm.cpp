#include "nn/layers/norm.h"

#include "engine/factory.h"
#include "ops/nn_ops.h"

namespace cortex::nn {

RMSNorm::RMSNorm(int64_t dim, double eps, DType dtype, Device device) : eps_(eps) {
  CORTEX_CHECK(dim > 0, "RMSNorm", "dim must be positive, got ", dim);
  CORTEX_CHECK(eps > 0, "RMSNorm", "eps must be positive, got ", eps);
  weight = register_parameter("weight", ones({dim}, dtype, device));
}

Tensor RMSNorm::forward(const Tensor& x) const { return rms_norm(x, weight, eps_); }

LayerNorm::LayerNorm(int64_t dim, double eps, bool with_bias, DType dtype, Device device) : eps_(eps) {
  CORTEX_CHECK(dim > 0, "LayerNorm", "dim must be positive, got ", dim);
  CORTEX_CHECK(eps > 0, "LayerNorm", "eps must be positive, got ", eps);
  weight = register_parameter("weight", ones({dim}, dtype, device));
  if (with_bias) bias = register_parameter("bias", zeros({dim}, dtype, device));
}

Tensor LayerNorm::forward(const Tensor& x) const { return layer_norm(x, weight, bias, eps_); }

}  // namespace cortex::nn
