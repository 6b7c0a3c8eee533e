#pragma once
#include "engine/tensor.h"

namespace cortex::autograd {

// Gradient accumulation needs element-wise addition, which lives in ops/ (a layer above);
// ops installs it here when it loads.
using AddFn = Tensor (*)(const Tensor&, const Tensor&);
void set_add_fn(AddFn fn);
Tensor add_gradients(const Tensor& a, const Tensor& b);

}  // namespace cortex::autograd
