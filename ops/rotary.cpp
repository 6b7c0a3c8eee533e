// rotary: the rotary embedding as one kernel instead of narrow + four mul + add/sub + cat
// (about ten launches on strided views per call, dozens of calls per Cortex forward).
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex {
namespace {

constexpr const char* kOp = "rotary";

// cos and sin [.., F] must broadcast to [N, H, F] the way rotate uses them ([N, 1, F]).
bool broadcasts_to(const Shape& have, const Shape& want) {
  if (have.empty() || have.size() > want.size()) return false;
  const size_t lead = want.size() - have.size();
  for (size_t i = 0; i < have.size(); ++i)
    if (have[i] != want[lead + i] && have[i] != 1) return false;
  return true;
}

void check_operands(const Tensor& x, const Tensor& cos, const Tensor& sin) {
  CORTEX_CHECK(x.defined() && cos.defined() && sin.defined(), kOp, "undefined x, cos or sin");
  CORTEX_CHECK(x.dim() == 3, kOp, "expected x [N, heads, head_dim], got ", x.describe());
  CORTEX_CHECK(is_floating(x.dtype()) && cos.dtype() == x.dtype() && sin.dtype() == x.dtype(), kOp,
               "x, cos and sin must share a floating dtype, got x ", x.describe(), ", cos ", cos.describe(), ", sin ",
               sin.describe());
  CORTEX_CHECK(cos.device() == x.device() && sin.device() == x.device(), kOp, "x, cos and sin on different devices: x ",
               x.describe(), ", cos ", cos.describe(), ", sin ", sin.describe());
  CORTEX_CHECK(cos.shape() == sin.shape() && cos.dim() >= 1, kOp, "cos and sin must have one shape [N, 1, F], got cos ",
               cos.describe(), ", sin ", sin.describe());
  const int64_t f = cos.size(-1);
  CORTEX_CHECK(2 * f <= x.size(2) && broadcasts_to(cos.shape(), {x.size(0), x.size(1), f}), kOp, "cos ",
               cos.describe(), " does not fit x ", x.describe(), " (want [N, 1, F] with 2F <= head_dim)");
  CORTEX_CHECK(!grad_enabled() || !(cos.requires_grad() || sin.requires_grad()), kOp,
               "gives no gradient to the angles, but cos ", cos.describe(), " or sin ", sin.describe(),
               " requires one (detach them)");
}

}  // namespace

Tensor rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool inverse) {
  check_operands(x, cos, sin);
  const Shape angle_shape{x.size(0), x.size(1), cos.size(-1)};
  // Detached, broadcast views: backward rotates by the same angles, the other way.
  const Tensor c = expand_data(cos.detach(), angle_shape), s = expand_data(sin.detach(), angle_shape);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  if (out.numel() > 0) rotary_kernel().get(x.device())(x, c, s, inverse, out);
  return autograd::record(kOp, out, {x}, [c, s, inverse](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{rotary(g, c, s, !inverse)};
  });
}

}  // namespace cortex
