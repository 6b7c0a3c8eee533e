#include "nn/layers/drop_path.h"

#include "engine/factory.h"
#include "ops/elementwise.h"

namespace cortex::nn {

DropPath::DropPath(double p, Generator* gen) : p_(p), gen_(gen) {
  CORTEX_CHECK(p >= 0.0 && p < 1.0, "DropPath", "probability must lie in [0, 1), got ", p);
}

Tensor DropPath::forward(const Tensor& branch) const {
  if (!active()) return branch;
  CORTEX_CHECK(branch.defined() && branch.dim() >= 1, "DropPath", "expected a branch [B, ...], got ",
               branch.describe());
  Shape per_sample(static_cast<size_t>(branch.dim()), 1);
  per_sample[0] = branch.size(0);
  const Tensor keep = bernoulli(per_sample, 1.0 - p_, branch.dtype(), branch.device(), gen_);
  // The scale multiplies the product as a double: rounded into a 16-bit mask it would be off by up
  // to 0.4% on every kept sample.
  return mul(mul(branch, keep), 1.0 / (1.0 - p_));
}

double drop_path_rate(double p, int64_t index, int64_t depth) {
  CORTEX_CHECK(depth >= 1 && index >= 0 && index < depth, "drop_path_rate", "block ", index, " of ", depth);
  return depth == 1 ? p : p * static_cast<double>(index) / static_cast<double>(depth - 1);
}

}  // namespace cortex::nn
