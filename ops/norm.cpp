// rms_norm and layer_norm over the last dim. The kernels see x as contiguous rows [R, C];
// they save per-row statistics (f32) that the backward kernels reuse.
#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/nn_ops.h"

namespace cortex {
namespace {

// t's data as contiguous rows [numel / cols, cols]; a fresh impl, so no autograd history.
Tensor as_rows(const Tensor& t, int64_t cols) {
  Tensor c = data_contiguous(t);
  return c.view_as_strided({c.numel() / cols, cols}, {cols, 1}, c.offset());
}

Tensor as_shape(const Tensor& rows, const Shape& shape) {
  return rows.view_as_strided(shape, contiguous_strides(shape), rows.offset());
}

// The affine parameter, or `fill` of shape [C] when the caller passed none.
Tensor affine_param(const Tensor& p, const Tensor& x, double fill, const char* op, const char* what) {
  const int64_t cols = x.size(-1);
  if (!p.defined()) return full({cols}, fill, x.dtype(), x.device());
  CORTEX_CHECK(p.dim() == 1 && p.size(0) == cols, op, what, " must have shape [", cols, "] to match input ",
               x.describe(), ", got ", p.describe());
  CORTEX_CHECK(p.dtype() == x.dtype() && p.device() == x.device(), op, what, " ", p.describe(),
               " must share dtype and device with input ", x.describe());
  return data_contiguous(p).detach();
}

void check_input(const Tensor& x, double eps, const char* op) {
  CORTEX_CHECK(x.defined(), op, "undefined input");
  CORTEX_CHECK(is_floating(x.dtype()), op, "expects a floating tensor, got ", x.describe());
  CORTEX_CHECK(x.dim() >= 1 && x.size(-1) > 0, op, "needs a non-empty last dim to normalise, got ", x.describe());
  CORTEX_CHECK(eps >= 0, op, "eps must be >= 0, got ", eps);
}

}  // namespace

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  check_input(x, eps, "rms_norm");
  const int64_t cols = x.size(-1);
  Tensor w = affine_param(weight, x, 1.0, "rms_norm", "weight");
  Tensor x_rows = as_rows(x, cols);
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  Tensor rstd = empty({x_rows.size(0)}, DType::f32, x.device());
  if (x.numel() > 0) rmsnorm_kernel().get(x.device())(x_rows, w, eps, as_rows(y, cols), rstd);
  return autograd::record("rms_norm", y, {x, weight}, [x_rows, w, rstd, shape = x.shape()](
                                                          const Tensor& g, const autograd::NeedsGrad& needs) {
    Tensor gx = empty(x_rows.shape(), x_rows.dtype(), x_rows.device());
    Tensor gw = empty(w.shape(), w.dtype(), w.device());
    if (gx.numel() > 0)
      rmsnorm_backward_kernel().get(gx.device())(x_rows, w, rstd, as_rows(g, x_rows.size(1)), gx, gw);
    else
      fill_(gw, 0.0);
    return std::vector<Tensor>{needs[0] ? as_shape(gx, shape) : Tensor(), needs[1] ? gw : Tensor()};
  });
}

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  check_input(x, eps, "layer_norm");
  const int64_t cols = x.size(-1);
  Tensor w = affine_param(weight, x, 1.0, "layer_norm", "weight");
  Tensor b = affine_param(bias, x, 0.0, "layer_norm", "bias");
  Tensor x_rows = as_rows(x, cols);
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  Tensor mean = empty({x_rows.size(0)}, DType::f32, x.device());
  Tensor rstd = empty({x_rows.size(0)}, DType::f32, x.device());
  if (x.numel() > 0) layernorm_kernel().get(x.device())(x_rows, w, b, eps, as_rows(y, cols), mean, rstd);
  return autograd::record("layer_norm", y, {x, weight, bias}, [x_rows, w, mean, rstd, shape = x.shape()](
                                                                  const Tensor& g, const autograd::NeedsGrad& needs) {
    Tensor gx = empty(x_rows.shape(), x_rows.dtype(), x_rows.device());
    Tensor gw = empty(w.shape(), w.dtype(), w.device());
    Tensor gb = empty(w.shape(), w.dtype(), w.device());
    if (gx.numel() > 0) {
      layernorm_backward_kernel().get(gx.device())(x_rows, w, mean, rstd, as_rows(g, x_rows.size(1)), gx, gw, gb);
    } else {
      fill_(gw, 0.0);
      fill_(gb, 0.0);
    }
    return std::vector<Tensor>{needs[0] ? as_shape(gx, shape) : Tensor(), needs[1] ? gw : Tensor(),
                               needs[2] ? gb : Tensor()};
  });
}

}  // namespace cortex
