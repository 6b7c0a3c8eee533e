#pragma once
// How a BLAS-style GEMM (OpenBLAS on the CPU, cuBLASLt on the GPU) can read a strided
// [rows, cols] matrix without copying it: row-major with a leading dimension, or its
// transpose; `ok` is false when neither layout fits and the caller must copy.
#include <algorithm>
#include <cstdint>

namespace cortex {

struct MatrixLayout {
  bool ok = false;
  bool transposed = false;
  int64_t ld = 0;
};

inline MatrixLayout matrix_layout(int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride) {
  if (col_stride == 1 || cols == 1) {
    const int64_t ld = rows == 1 ? std::max<int64_t>(cols, 1) : row_stride;
    if (ld >= std::max<int64_t>(cols, 1)) return {true, false, ld};
  }
  if (row_stride == 1 || rows == 1) {
    const int64_t ld = cols == 1 ? std::max<int64_t>(rows, 1) : col_stride;
    if (ld >= std::max<int64_t>(rows, 1)) return {true, true, ld};
  }
  return {};
}

}  // namespace cortex
