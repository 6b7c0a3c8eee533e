#pragma once
// The pre-norm MLP residual: x + dropout(W2 gelu(W1 rmsnorm(x))).
#include <memory>

#include "nn/layers/dropout.h"
#include "nn/layers/linear.h"
#include "nn/layers/norm.h"
#include "nn/module.h"

namespace cortex::nn {

class FeedForward : public Module {
 public:
  FeedForward(int64_t dim, int64_t hidden, double dropout, Generator* gen, DType dtype, Device device);
  Tensor forward(const Tensor& x) const;  // [..., dim] -> [..., dim], residual included
  Tensor branch(const Tensor& x) const;   // the same without the residual

  std::shared_ptr<RMSNorm> norm;
  std::shared_ptr<Linear> fc1, fc2;
  std::shared_ptr<Dropout> drop;
};

// Parameters of one FeedForward (for the analytic counts).
int64_t feed_forward_parameters(int64_t dim, int64_t hidden);

}  // namespace cortex::nn
