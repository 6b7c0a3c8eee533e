#pragma once
#include <vector>

#include "engine/tensor.h"

namespace cortex::nn::optim {

// Scales every gradient by max_norm / total_norm when the L2 norm over all gradients
// together exceeds max_norm. Parameters without a gradient are skipped. Returns the norm
// before clipping; when it is not finite the gradients are left untouched so the caller
// can skip the step.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);
// The same L2 norm without changing anything.
double grad_norm(const std::vector<Tensor>& params);

}  // namespace cortex::nn::optim
