#include "nn/layers/dropout.h"

#include "ops/nn_ops.h"

namespace cortex::nn {

Dropout::Dropout(double p, Generator* gen) : p_(p), gen_(gen) {
  CORTEX_CHECK(p >= 0.0 && p < 1.0, "Dropout", "probability must lie in [0, 1), got ", p);
}

Tensor Dropout::forward(const Tensor& x) const { return dropout(x, p_, is_training(), gen_); }

}  // namespace cortex::nn
