#include "nn/cortex/feed_forward.h"

#include "ops/elementwise.h"

namespace cortex::nn {

FeedForward::FeedForward(int64_t dim, int64_t hidden, double dropout, Generator* gen, DType dtype, Device device) {
  norm = register_module("norm", std::make_shared<RMSNorm>(dim, 1e-6, dtype, device));
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden, true, gen, dtype, device));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim, true, gen, dtype, device));
  drop = register_module("drop", std::make_shared<Dropout>(dropout, gen));
}

Tensor FeedForward::forward(const Tensor& x) const {
  const Tensor h = fc1->forward(norm->forward(x), LinearActivation::gelu);
  // Dropout is the identity in eval, so there the residual add can join fc2's GEMM.
  if (!drop->is_training()) return fc2->forward(h, LinearActivation::none, x);
  return add(x, drop->forward(fc2->forward(h)));
}

int64_t feed_forward_parameters(int64_t dim, int64_t hidden) {
  return dim + (dim * hidden + hidden) + (hidden * dim + dim);
}

}  // namespace cortex::nn
