#pragma once
#include "engine/tensor.h"

namespace cortex {

// Matrix product with numpy semantics: 1-D operands are promoted and the added dim
// removed; leading (batch) dims broadcast. Any operand may be a transposed view.
Tensor matmul(const Tensor& a, const Tensor& b);
// x @ w^T + bias, with w stored [out, in] as in a Linear layer; bias may be undefined.
Tensor linear(const Tensor& x, const Tensor& w, const Tensor& bias = Tensor());

}  // namespace cortex
