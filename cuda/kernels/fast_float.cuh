#pragma once
// FastFloat: float arithmetic for the element-wise formulas of ops/scalar_math.h when the
// result is rounded to bf16 or f16. The formulas are the shared ones; only exp, log and
// tanh (found by argument-dependent lookup) use the GPU's fast approximations, whose
// errors (a few float ulps) are far below the 16-bit rounding of the result. Without
// this, a 16-bit GELU is bound by tanhf's instruction count rather than by memory.
#include <cuda_runtime.h>

#include <type_traits>

#include "cuda/kernels/fast_convert.cuh"
#include "cuda/kernels/launch.cuh"

namespace cortex::cuda {

struct FastFloat {
  float v;
  FastFloat() = default;
  __host__ __device__ constexpr FastFloat(float x) : v(x) {}
  __host__ __device__ constexpr explicit FastFloat(double x) : v(static_cast<float>(x)) {}
  __host__ __device__ constexpr explicit FastFloat(int x) : v(static_cast<float>(x)) {}
};

__device__ __forceinline__ FastFloat operator+(FastFloat a, FastFloat b) { return a.v + b.v; }
__device__ __forceinline__ FastFloat operator-(FastFloat a, FastFloat b) { return a.v - b.v; }
__device__ __forceinline__ FastFloat operator*(FastFloat a, FastFloat b) { return a.v * b.v; }
__device__ __forceinline__ FastFloat operator/(FastFloat a, FastFloat b) { return a.v / b.v; }
__device__ __forceinline__ FastFloat operator-(FastFloat a) { return -a.v; }
__device__ __forceinline__ bool operator<(FastFloat a, FastFloat b) { return a.v < b.v; }
__device__ __forceinline__ bool operator>(FastFloat a, FastFloat b) { return a.v > b.v; }
__device__ __forceinline__ bool operator<=(FastFloat a, FastFloat b) { return a.v <= b.v; }
__device__ __forceinline__ bool operator>=(FastFloat a, FastFloat b) { return a.v >= b.v; }
__device__ __forceinline__ bool operator==(FastFloat a, FastFloat b) { return a.v == b.v; }
__device__ __forceinline__ bool operator!=(FastFloat a, FastFloat b) { return a.v != b.v; }

__device__ __forceinline__ FastFloat exp(FastFloat x) { return __expf(x.v); }
__device__ __forceinline__ FastFloat log(FastFloat x) { return __logf(x.v); }
__device__ __forceinline__ FastFloat sqrt(FastFloat x) { return sqrtf(x.v); }
__device__ __forceinline__ FastFloat pow(FastFloat x, FastFloat y) { return powf(x.v, y.v); }

// tanh from one exp: (1 - e) / (1 + e) with e = exp(-2|x|), and a Taylor polynomial near 0
// where that difference would cancel. Both branches are computed (no divergence).
__device__ __forceinline__ FastFloat tanh(FastFloat x) {
  const float a = fabsf(x.v);
  const float e = __expf(-2.0f * a);
  const float far = __fdividef(1.0f - e, 1.0f + e);
  const float a2 = a * a;
  const float near = a * (1.0f + a2 * (-1.0f / 3.0f + a2 * (2.0f / 15.0f + a2 * (-17.0f / 315.0f))));
  return copysignf(a < 0.0625f ? near : far, x.v);
}

// The type element-wise formulas run in on the GPU: FastFloat for the 16-bit floats,
// otherwise math_t (the CPU kernels' type).
template <typename T>
using elementwise_math_t =
    std::conditional_t<std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>, FastFloat, math_t<T>>;

template <typename C, typename T>
__device__ __forceinline__ C to_math(T v) {
  if constexpr (std::is_same_v<C, FastFloat>) return FastFloat(dconvert<float>(v));
  else return dconvert<C>(v);
}

template <typename T, typename C>
__device__ __forceinline__ T from_math(C v) {
  if constexpr (std::is_same_v<C, FastFloat>) return dconvert<T>(v.v);
  else return dconvert<T>(v);
}

}  // namespace cortex::cuda
