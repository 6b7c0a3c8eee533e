// CUDA rotary_kernel: one thread per output element (row, channel), grid-stride, reading
// strided x, cos and sin. The products and sums use the _rn intrinsics so nvcc cannot
// contract them into an FMA: f32 results then match the CPU kernel bit for bit.
#include "cuda/kernels/launch.cuh"
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

template <typename T>
__global__ void rotary(const T* x, const T* cos, const T* sin, T* out, int64_t rows, int64_t heads, int64_t dh,
                       int64_t f, Strides3 xs, Strides3 cs, Strides3 ss, bool inverse) {
  using M = math_t<T>;
  const int64_t total = rows * dh, stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t r = e / dh, d = e - r * dh, i = r / heads, j = r - i * heads;
    const T* xr = x + i * xs.s0 + j * xs.s1;
    if (d >= 2 * f) {
      out[e] = xr[d * xs.s2];
      continue;
    }
    const bool first = d < f;
    const int64_t k = first ? d : d - f;
    const M x1 = convert<M>(xr[k * xs.s2]), x2 = convert<M>(xr[(f + k) * xs.s2]);
    const M c = convert<M>(cos[i * cs.s0 + j * cs.s1 + k * cs.s2]);
    const M s0 = convert<M>(sin[i * ss.s0 + j * ss.s1 + k * ss.s2]);
    const M s = inverse ? -s0 : s0;
    // x1 c - x2 s for the first half, x2 c + x1 s for the second; each product rounded first.
    out[e] = convert<T>(first ? add_rn(mul_rn(x1, c), -mul_rn(x2, s)) : add_rn(mul_rn(x2, c), mul_rn(x1, s)));
  }
}

Strides3 strides_of(const Tensor& t) { return {t.strides()[0], t.strides()[1], t.strides()[2]}; }

void cuda_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool inverse, const Tensor& out) {
  DeviceScope scope(out);
  const int64_t rows = x.size(0) * x.size(1), dh = x.size(2);
  visit_floating(x.dtype(), "rotary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    rotary<T><<<grid_for(rows * dh, kThreads, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<const T*>(x.data_ptr()), static_cast<const T*>(cos.data_ptr()),
        static_cast<const T*>(sin.data_ptr()), static_cast<T*>(out.data_ptr()), rows, x.size(1), dh, cos.size(2),
        strides_of(x), strides_of(cos), strides_of(sin), inverse);
    CORTEX_CUDA_CHECK_LAUNCH("rotary");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(rotary_kernel, CUDA, cuda_rotary);

}  // namespace cortex::cuda
