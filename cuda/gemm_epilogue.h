#pragma once
// GEMM epilogues as separate kernels, for configurations cuBLASLt cannot fuse.
#include <cuda_runtime.h>

#include <cstdint>

#include "engine/dtype.h"

namespace cortex::cuda {

// c[i][r][col] = act(c[i][r][col] + bias[col]) over a row-major [batch, rows, cols] output with
// row stride ldc; act is the tanh-form GELU when `gelu`, identity otherwise; bias may be null.
void gemm_bias_act(DType dtype, void* c, int64_t rows, int64_t cols, int64_t ldc, int64_t batch, int64_t batch_stride,
                   const void* bias, bool gelu, cudaStream_t stream);

// out[r] = sum over j < cols of a[r * row_stride + j * col_stride], accumulated in f32 (f64 for f64).
void gemm_row_sums(DType dtype, const void* a, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride,
                   void* out, cudaStream_t stream);

}  // namespace cortex::cuda
