#pragma once
// Differentiable views (no copy unless the comment says so) and device/dtype moves.
#include "engine/tensor.h"

namespace cortex {

// One -1 entry is inferred. A view when the strides allow it, a copy otherwise.
Tensor reshape(const Tensor& x, const Shape& shape);
Tensor flatten(const Tensor& x, int64_t start_dim = 0, int64_t end_dim = -1);
Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor permute(const Tensor& x, const std::vector<int64_t>& order);
// Elements [start, start + length) along dim.
Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// Size-1 dims become `shape` (leading dims may be added); -1 keeps a dim.
Tensor expand(const Tensor& x, const Shape& shape);
Tensor squeeze(const Tensor& x, int64_t dim);
Tensor unsqueeze(const Tensor& x, int64_t dim);
Tensor contiguous(const Tensor& x);
Tensor to(const Tensor& x, DType dtype);
Tensor to(const Tensor& x, Device device);
Tensor to(const Tensor& x, Device device, DType dtype);

// The same views without autograd, for kernels and backward closures.
Tensor expand_data(const Tensor& x, const Shape& shape);
Tensor transpose_data(const Tensor& x, int64_t dim0, int64_t dim1);
Tensor narrow_data(const Tensor& x, int64_t dim, int64_t start, int64_t length);
// A view with the new shape if the strides allow one, else an undefined tensor.
Tensor try_reshape_view(const Tensor& x, const Shape& shape);

}  // namespace cortex
