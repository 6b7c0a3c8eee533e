#pragma once
// Stochastic depth: while training, a residual branch is dropped for whole samples at once
// (every row of the sample), the kept ones scaled by 1 / (1 - p); the identity in eval mode.
// A deep stack then trains as an ensemble of shallower ones, which regularises it on small
// datasets where plain dropout on activations is not enough.
#include "engine/generator.h"
#include "nn/module.h"

namespace cortex::nn {

class DropPath : public Module {
 public:
  explicit DropPath(double p, Generator* gen = nullptr);
  // branch [B, ...]: the branch of B samples; returns it with each sample kept or zeroed.
  Tensor forward(const Tensor& branch) const;
  double p() const { return p_; }
  // Whether forward changes anything (training with p > 0).
  bool active() const { return is_training() && p_ > 0.0; }

 private:
  double p_;
  Generator* gen_;
};

// The rate of block `index` of `depth`: rising linearly from 0 at the first block to `p` at
// the last, so the blocks near the input, which every later one builds on, are dropped least.
double drop_path_rate(double p, int64_t index, int64_t depth);

}  // namespace cortex::nn
