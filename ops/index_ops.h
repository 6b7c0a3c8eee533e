#pragma once
#include "engine/tensor.h"

namespace cortex {

// x's slices at `idx` (1-D, i32/i64) along dim. Backward index-adds into x's shape.
Tensor index_select(const Tensor& x, int64_t dim, const Tensor& idx);
// out[i][j] = x[i][idx[i][j]] along dim; idx has the output's shape (other dims <= x's).
Tensor gather(const Tensor& x, int64_t dim, const Tensor& idx);
// A copy of `base` with src[i][j] added at base[i][idx[i][j]] along dim (repeats sum up).
Tensor scatter_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src);
// A copy of `base` with src's slices added at rows idx along dim (repeats sum up).
Tensor index_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src);

}  // namespace cortex
