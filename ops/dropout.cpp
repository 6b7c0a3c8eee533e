// Inverted dropout composed of differentiable ops: x * mask * 1/(1-p), with a Bernoulli(1-p)
// mask drawn from one Philox stream of the generator (so a seed fixes the mask on any device).
#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/nn_ops.h"

namespace cortex {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  CORTEX_CHECK(x.defined(), "dropout", "undefined input");
  CORTEX_CHECK(p >= 0.0 && p <= 1.0, "dropout", "probability must lie in [0, 1], got ", p);
  CORTEX_CHECK(is_floating(x.dtype()), "dropout", "expects a floating tensor, got ", x.describe());
  if (!training || p == 0.0) return x;
  if (p == 1.0) return mul(x, 0.0);  // everything dropped; keeps the graph (zero gradient)
  Tensor keep = bernoulli(x.shape(), 1.0 - p, x.dtype(), x.device(), gen);
  // Scaling as a scalar keeps 1/(1-p) exact even where x is 16-bit.
  return mul(mul(x, keep), 1.0 / (1.0 - p));
}

}  // namespace cortex
