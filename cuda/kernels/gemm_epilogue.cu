#include "cuda/gemm_epilogue.h"
#include "cuda/runtime.h"
#include "ops/scalar_math.h"

namespace cortex::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void bias_act(T* __restrict__ c, int64_t rows, int64_t cols, int64_t ldc, int64_t batch,
                         int64_t batch_stride, const T* __restrict__ bias, bool gelu) {
  using C = compute_t<T>;
  const int64_t n = batch * rows * cols;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    const int64_t col = i % cols, r = (i / cols) % rows, b = i / (cols * rows);
    T* p = c + b * batch_stride + r * ldc + col;
    C v = static_cast<C>(*p);
    if (bias) v += static_cast<C>(bias[col]);
    if (gelu) v = scalar::gelu(v);
    *p = T(v);
  }
}

// One block per row; the tree reduction keeps the order fixed (deterministic).
template <typename T>
__global__ void row_sums(const T* __restrict__ a, int64_t cols, int64_t row_stride, int64_t col_stride,
                         T* __restrict__ out) {
  using Acc = std::conditional_t<std::is_same_v<T, double>, double, float>;
  __shared__ Acc partial[kThreads];
  const T* row = a + static_cast<int64_t>(blockIdx.x) * row_stride;
  Acc s = 0;
  for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) s += static_cast<Acc>(row[j * col_stride]);
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int width = kThreads / 2; width > 0; width /= 2) {
    if (static_cast<int>(threadIdx.x) < width) partial[threadIdx.x] += partial[threadIdx.x + width];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[blockIdx.x] = T(partial[0]);
}

}  // namespace

void gemm_bias_act(DType dtype, void* c, int64_t rows, int64_t cols, int64_t ldc, int64_t batch, int64_t batch_stride,
                   const void* bias, bool gelu, cudaStream_t stream) {
  const int64_t n = batch * rows * cols;
  if (n == 0) return;
  visit_floating(dtype, "gemm epilogue", [&](auto tag) {
    using T = typename decltype(tag)::type;
    bias_act<T><<<grid_blocks(n, kThreads, current_device()), kThreads, 0, stream>>>(
        static_cast<T*>(c), rows, cols, ldc, batch, batch_stride, static_cast<const T*>(bias), gelu);
    CORTEX_CUDA_CHECK_LAUNCH("bias_act");
  });
}

void gemm_row_sums(DType dtype, const void* a, int64_t rows, int64_t cols, int64_t row_stride, int64_t col_stride,
                   void* out, cudaStream_t stream) {
  if (rows == 0) return;
  CORTEX_CHECK(rows <= INT32_MAX, "gemm bias_grad", rows, " rows exceed the grid limit");
  visit_floating(dtype, "gemm bias_grad", [&](auto tag) {
    using T = typename decltype(tag)::type;
    row_sums<T><<<static_cast<unsigned>(rows), kThreads, 0, stream>>>(static_cast<const T*>(a), cols, row_stride,
                                                                       col_stride, static_cast<T*>(out));
    CORTEX_CUDA_CHECK_LAUNCH("row_sums");
  });
}

}  // namespace cortex::cuda
