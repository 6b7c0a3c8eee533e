// CUDA rotary_kernel: one thread per output element (row, channel), grid-stride, reading
// strided x, cos and sin. The products and sums use the _rn intrinsics so nvcc cannot
// contract them into an FMA: f32 results then match the CPU kernel bit for bit.
#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/strided_indexer.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }
__device__ __forceinline__ float add_rn(float a, float b) { return __fadd_rn(a, b); }
__device__ __forceinline__ double add_rn(double a, double b) { return __dadd_rn(a, b); }

struct Strides3 {
  int64_t s0, s1, s2;
};

// I is the index type: int32 wherever every element and offset fits (the 64-bit divisions
// that map an element to its row and head otherwise cost more than the memory traffic).
template <typename T, typename I>
__global__ void rotary(const T* x, const T* cos, const T* sin, T* out, I rows, I heads, I dh, I f, Strides3 xs64,
                       Strides3 cs64, Strides3 ss64, bool inverse) {
  using M = math_t<T>;
  const I xs0 = static_cast<I>(xs64.s0), xs1 = static_cast<I>(xs64.s1), xs2 = static_cast<I>(xs64.s2);
  const I cs0 = static_cast<I>(cs64.s0), cs1 = static_cast<I>(cs64.s1), cs2 = static_cast<I>(cs64.s2);
  const I ss0 = static_cast<I>(ss64.s0), ss1 = static_cast<I>(ss64.s1), ss2 = static_cast<I>(ss64.s2);
  const I total = rows * dh, stride = static_cast<I>(gridDim.x) * static_cast<I>(blockDim.x);
  for (I e = static_cast<I>(blockIdx.x) * static_cast<I>(blockDim.x) + static_cast<I>(threadIdx.x); e < total;
       e += stride) {
    const I r = e / dh, d = e - r * dh, i = r / heads, j = r - i * heads;
    const T* xr = x + i * xs0 + j * xs1;
    if (d >= 2 * f) {
      out[e] = xr[d * xs2];
      continue;
    }
    const bool first = d < f;
    const I k = first ? d : d - f;
    const M x1 = convert<M>(xr[k * xs2]), x2 = convert<M>(xr[(f + k) * xs2]);
    const M c = convert<M>(cos[i * cs0 + j * cs1 + k * cs2]);
    const M s0 = convert<M>(sin[i * ss0 + j * ss1 + k * ss2]);
    const M s = inverse ? -s0 : s0;
    // x1 c - x2 s for the first half, x2 c + x1 s for the second; each product rounded first.
    out[e] = convert<T>(first ? add_rn(mul_rn(x1, c), -mul_rn(x2, s)) : add_rn(mul_rn(x2, c), mul_rn(x1, s)));
  }
}

Strides3 strides_of(const Tensor& t) { return {t.strides()[0], t.strides()[1], t.strides()[2]}; }

void cuda_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool inverse, const Tensor& out) {
  DeviceScope scope(out);
  const int64_t rows = x.size(0) * x.size(1), dh = x.size(2);
  constexpr int64_t kInt32Max = 2147483647;
  // Row-level offsets (i * stride) also stay below the largest offset; + threads for the grid stride.
  const bool small = rows * dh + int64_t{kThreads} * 65536 < kInt32Max && max_extent(x) < kInt32Max &&
                     max_extent(cos) < kInt32Max && max_extent(sin) < kInt32Max;
  visit_floating(x.dtype(), "rotary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const unsigned grid = grid_for(rows * dh, kThreads, kThreads);
    const T* xp = static_cast<const T*>(x.data_ptr());
    const T* cp = static_cast<const T*>(cos.data_ptr());
    const T* sp = static_cast<const T*>(sin.data_ptr());
    T* op = static_cast<T*>(out.data_ptr());
    if (small)
      rotary<T, int32_t><<<grid, kThreads, 0, current_stream()>>>(
          xp, cp, sp, op, static_cast<int32_t>(rows), static_cast<int32_t>(x.size(1)), static_cast<int32_t>(dh),
          static_cast<int32_t>(cos.size(2)), strides_of(x), strides_of(cos), strides_of(sin), inverse);
    else
      rotary<T, int64_t><<<grid, kThreads, 0, current_stream()>>>(xp, cp, sp, op, rows, x.size(1), dh, cos.size(2),
                                                                  strides_of(x), strides_of(cos), strides_of(sin),
                                                                  inverse);
    CORTEX_CUDA_CHECK_LAUNCH("rotary");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(rotary_kernel, CUDA, cuda_rotary);

}  // namespace cortex::cuda
