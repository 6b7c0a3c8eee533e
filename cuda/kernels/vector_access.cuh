#pragma once
// Aligned vectors of VEC elements, so that a thread moves 16 bytes per memory instruction.
#include <cstdint>

namespace cortex::cuda {

template <typename T, int VEC>
struct alignas(sizeof(T) * VEC) Vec {
  T v[VEC];
};

// Elements per 16-byte access for the widest of the element types.
template <typename... Ts>
constexpr int vec_for() {
  size_t widest = 1;
  ((widest = sizeof(Ts) > widest ? sizeof(Ts) : widest), ...);
  return static_cast<int>(16 / widest);
}

// VEC consecutive elements at p, or VEC copies of p[0] when `broadcast` (a zero stride).
template <int VEC, typename T>
__device__ __forceinline__ Vec<T, VEC> load_vec(const T* p, bool broadcast) {
  Vec<T, VEC> r;
  if (broadcast) {
    const T x = p[0];
#pragma unroll
    for (int i = 0; i < VEC; ++i) r.v[i] = x;
  } else {
    r = *reinterpret_cast<const Vec<T, VEC>*>(p);
  }
  return r;
}

template <int VEC, typename T>
__device__ __forceinline__ void store_vec(T* p, const Vec<T, VEC>& v) {
  *reinterpret_cast<Vec<T, VEC>*>(p) = v;
}

}  // namespace cortex::cuda
