#include "ops/fused_linear.h"

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/linalg.h"
#include "ops/views.h"

namespace cortex {
namespace {

constexpr const char* kOp = "fused_linear";

bool takes_kernel(const Tensor& x, const Tensor& w, const Tensor& bias, const Tensor& residual) {
  auto needs_grad = [](const Tensor& t) { return t.defined() && t.requires_grad(); };
  const bool records_grad =
      grad_enabled() && (needs_grad(x) || needs_grad(w) || needs_grad(bias) || needs_grad(residual));
  return !records_grad && fused_linear_kernel().has(x.device().type) && x.numel() > 0 && w.is_contiguous() &&
         (!bias.defined() || bias.is_contiguous());
}

}  // namespace

Tensor fused_linear(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act,
                    const Tensor& residual) {
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
  Shape shape = x.shape();
  shape.back() = w.size(0);
  if (residual.defined()) {
    CORTEX_CHECK(act == LinearActivation::none, kOp, "a residual goes with no activation (the GEMM adds it last)");
    CORTEX_CHECK(residual.shape() == shape && residual.dtype() == x.dtype() && residual.device() == x.device(), kOp,
                 "residual ", residual.describe(), " must match the output ", shape_str(shape), " of input ",
                 x.describe());
  }
  if (!takes_kernel(x, w, bias, residual)) {
    const Tensor y = linear(x, w, bias);
    if (residual.defined()) return add(residual, y);
    return act == LinearActivation::gelu ? gelu(y) : y;
  }
  const int64_t k = x.size(-1), n = w.size(0);
  Tensor rows = reshape(x, {x.numel() / k, k});
  if (rows.stride(1) != 1) rows = contiguous_copy(rows);
  Tensor out = empty({rows.size(0), n}, x.dtype(), x.device());
  const Tensor residual_rows = residual.defined() ? reshape(data_contiguous(residual), {rows.size(0), n}) : Tensor();
  fused_linear_kernel().get(x.device())(rows, w, bias, act, residual_rows, out);
  return reshape(out, shape);
}

}  // namespace cortex
