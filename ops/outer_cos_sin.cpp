// outer_cos_sin: the rotary angles of many times at once, on the device that holds them, so
// a captured forward can turn uploaded times into rotations without the host computing (and
// copying) N * F cosines and sines per call.
#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/nn_ops.h"

namespace cortex {

std::pair<Tensor, Tensor> outer_cos_sin(const Tensor& t, const Tensor& w, DType dtype) {
  constexpr const char* op = "outer_cos_sin";
  CORTEX_CHECK(t.defined() && w.defined() && t.dim() == 1 && w.dim() == 1 && t.dtype() == DType::f64 &&
                   w.dtype() == DType::f64,
               op, "expected times t f64 [N] and frequencies w f64 [F], got t ", describe(t), ", w ", describe(w));
  CORTEX_CHECK(t.device() == w.device(), op, "t ", t.describe(), " and w ", w.describe(), " on different devices");
  CORTEX_CHECK(is_floating(dtype), op, "the result dtype must be floating, got ", dtype_name(dtype));
  CORTEX_CHECK(!(t.requires_grad() || w.requires_grad()), op, "has no backward, but t ", t.describe(), " or w ",
               w.describe(), " requires a gradient");
  Tensor c = empty({t.size(0), w.size(0)}, dtype, t.device());
  Tensor s = empty(c.shape(), dtype, t.device());
  if (c.numel() > 0) outer_cos_sin_kernel().get(t.device())(data_contiguous(t), data_contiguous(w), c, s);
  return {c, s};
}

}  // namespace cortex
