#include "ops/fused_linear.h"

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/views.h"

namespace cortex {
namespace {

constexpr const char* kOp = "fused_linear";

bool takes_kernel(const Tensor& x, const Tensor& w, const Tensor& bias) {
  const bool records_grad =
      grad_enabled() && (x.requires_grad() || w.requires_grad() || (bias.defined() && bias.requires_grad()));
  return !records_grad && fused_linear_kernel().has(x.device().type) && x.numel() > 0 && w.is_contiguous() &&
         (!bias.defined() || bias.is_contiguous());
}

}  // namespace

Tensor fused_linear(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act) {
  CORTEX_CHECK(x.defined() && w.defined(), kOp, "undefined input or weight");
  CORTEX_CHECK(w.dim() == 2 && x.dim() >= 1 && x.size(-1) == w.size(1), kOp, "input ", x.describe(),
               " does not match weight ", w.describe(), " ([out, in])");
  CORTEX_CHECK(!bias.defined() || (bias.dim() == 1 && bias.size(0) == w.size(0)), kOp, "bias ", bias.describe(),
               " does not match weight ", w.describe());
  CORTEX_CHECK(x.dtype() == w.dtype() && (!bias.defined() || bias.dtype() == w.dtype()) && is_floating(x.dtype()),
               kOp, "input, weight and bias must share a floating dtype, got ", x.describe(), ", ", w.describe(),
               bias.defined() ? ", " + bias.describe() : std::string());
  CORTEX_CHECK(x.device() == w.device() && (!bias.defined() || bias.device() == w.device()), kOp,
               "input, weight and bias on different devices: ", x.describe(), ", ", w.describe());
  if (!takes_kernel(x, w, bias)) {
    const Tensor y = linear(x, w, bias);
    return act == LinearActivation::gelu ? gelu(y) : y;
  }
  const int64_t k = x.size(-1), n = w.size(0);
  Tensor rows = reshape(x, {x.numel() / k, k});
  if (rows.stride(1) != 1) rows = contiguous_copy(rows);
  Tensor out = empty({rows.size(0), n}, x.dtype(), x.device());
  fused_linear_kernel().get(x.device())(rows, w, bias, act, out);
  Shape shape = x.shape();
  shape.back() = n;
  return reshape(out, shape);
}

}  // namespace cortex
