#pragma once
// Splits a reduction of x over `dims` (sorted, unique) into the kept dims (with x's and
// out's strides; out has size 1 in every reduced dim) and the reduced dims (with x's
// strides), so a kernel can walk each as its own strided view. Shared by the CPU and CUDA
// reduction kernels.
#include <vector>

#include "engine/tensor.h"

namespace cortex {

struct ReductionLayout {
  Shape kept_shape, kept_out_strides, kept_x_strides, reduced_shape, reduced_strides;
  ReductionLayout(const Tensor& x, const Tensor& out, const std::vector<int64_t>& dims) {
    size_t r = 0;
    for (int64_t d = 0; d < x.dim(); ++d) {
      if (r < dims.size() && dims[r] == d) {
        reduced_shape.push_back(x.size(d));
        reduced_strides.push_back(x.stride(d));
        ++r;
      } else {
        kept_shape.push_back(x.size(d));
        kept_out_strides.push_back(out.stride(d));
        kept_x_strides.push_back(x.stride(d));
      }
    }
  }
};

}  // namespace cortex
