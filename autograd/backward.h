#pragma once
#include "engine/tensor.h"

namespace cortex {

// Back-propagates from `root`. With no grad_output, root must hold one element (a loss)
// and its gradient is 1. Gradients accumulate into the .grad of every leaf that requires
// grad; the graph's saved tensors are released unless retain_graph is set.
void backward(const Tensor& root, const Tensor& grad_output = Tensor(), bool retain_graph = false);

}  // namespace cortex
