#pragma once
// Launch helpers shared by the kernel files: the device a kernel runs on, grid sizing,
// and the arithmetic types that match the CPU reference kernels.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cuda/runtime.h"
#include "engine/dtype.h"
#include "engine/tensor.h"

namespace cortex::cuda {

// The type element-wise formulas run in, as in ops/cpu/elementwise.cpp: float for the
// 16-bit floats, the type itself for f32/f64, double for integers and bool.
template <typename T>
using math_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, compute_t<T>, double>;

// The accumulator of a reduction: f32 for f32 and the 16-bit floats, f64 for f64, i64 for
// integers and bool.
template <typename T>
using acc_t = std::conditional_t<std::is_same_v<T, double>, double,
                                 std::conditional_t<std::is_floating_point_v<compute_t<T>>, float, int64_t>>;

// Makes the tensor's GPU current for the scope, so kernels land on the device that owns
// the memory even when the caller's thread is set to another.
class DeviceScope {
 public:
  explicit DeviceScope(const Tensor& t) : guard_(t.device().index) {}

 private:
  DeviceGuard guard_;
};

// Streaming multiprocessors of the current device.
inline int sm_count() { return multiprocessor_count(current_device()); }

// Blocks for `work` items at `per_block` items a block, capped at `waves` resident waves
// of 2048 threads per SM; grid-stride loops cover the rest.
inline unsigned grid_for(int64_t work, int64_t per_block, int threads, int waves = 4) {
  const int64_t wanted = (work + per_block - 1) / per_block;
  const int64_t cap = static_cast<int64_t>(sm_count()) * (2048 / threads) * waves;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(wanted, cap)));
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// True when the pointer can be read in aligned chunks of `bytes`.
inline bool is_aligned(const void* p, size_t bytes) { return reinterpret_cast<uintptr_t>(p) % bytes == 0; }

}  // namespace cortex::cuda
