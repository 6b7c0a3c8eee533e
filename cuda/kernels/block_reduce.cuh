#pragma once
// Warp-shuffle and block reductions with a fixed combination order, so a reduction gives
// the same bits on every run for a given launch shape.
#include <cuda_runtime.h>

namespace cortex::cuda {

constexpr unsigned kFullMask = 0xffffffffu;

// Lane exchange; structs of several values overload this next to their definition.
template <typename T>
__device__ __forceinline__ T shfl_xor(T v, int offset) {
  return __shfl_xor_sync(kFullMask, v, offset);
}

// Two running values reduced together (e.g. the sum of g and of g * xhat).
template <typename A>
struct Pair {
  A a, b;
};
template <typename A>
__device__ __forceinline__ Pair<A> shfl_xor(Pair<A> v, int offset) {
  return {__shfl_xor_sync(kFullMask, v.a, offset), __shfl_xor_sync(kFullMask, v.b, offset)};
}

// Butterfly over aligned groups of `width` lanes (a power of two up to 32); every lane of a
// group ends with the group's result.
template <typename T, typename Combine>
__device__ __forceinline__ T warp_reduce(T v, Combine combine, int width = 32) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1)
    if (offset < width) v = combine(v, shfl_xor(v, offset));
  return v;
}

// Reduces over the whole block (blockDim.x a multiple of 32, at most 1024); every thread
// ends with the result. `scratch` holds 32 values; the block must reach this call together.
template <typename T, typename Combine>
__device__ __forceinline__ T block_reduce(T v, Combine combine, T* scratch) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_reduce(v, combine);
  if (warps == 1) return v;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = scratch[0];
  for (int w = 1; w < warps; ++w) v = combine(v, scratch[w]);
  return v;
}

// Reduces over groups of `group` consecutive threads: part of a warp or one warp (group a
// power of two up to 32), or the whole block (group == blockDim.x).
template <typename T, typename Combine>
__device__ __forceinline__ T group_reduce(T v, Combine combine, int group, T* scratch) {
  return group <= 32 ? warp_reduce(v, combine, group) : block_reduce(v, combine, scratch);
}

struct SumOp {
  template <typename T>
  __device__ __forceinline__ T operator()(T a, T b) const {
    return a + b;
  }
  template <typename A>
  __device__ __forceinline__ Pair<A> operator()(Pair<A> x, Pair<A> y) const {
    return {x.a + y.a, x.b + y.b};
  }
};

}  // namespace cortex::cuda
