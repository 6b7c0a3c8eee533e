#include "nn/cortex/feed_forward.h"

namespace cortex::nn {

FeedForward::FeedForward(int64_t dim, int64_t hidden, double dropout, Generator* gen, DType dtype, Device device) {
  norm = register_module("norm", std::make_shared<RMSNorm>(dim, 1e-6, dtype, device));
  fc1 = register_module("fc1", std::make_shared<Linear>(dim, hidden, true, gen, dtype, device));
  fc2 = register_module("fc2", std::make_shared<Linear>(hidden, dim, true, gen, dtype, device));
  drop = register_module("drop", std::make_shared<Dropout>(dropout, gen));
}

Tensor FeedForward::forward(const Tensor& x) const {
  return add_residual_branch(x, *fc2, *drop, fc1->forward(norm->forward(x), LinearActivation::gelu));
}

Tensor FeedForward::branch(const Tensor& x) const {
  return drop->forward(fc2->forward(fc1->forward(norm->forward(x), LinearActivation::gelu)));
}

int64_t feed_forward_parameters(int64_t dim, int64_t hidden) {
  return dim + (dim * hidden + hidden) + (hidden * dim + dim);
}

}  // namespace cortex::nn
