// CUDA outer_cos_sin_kernel: one thread per (time, frequency), sincos in f64 (CUDA's f64
// sin/cos are within 2 ulp, so after rounding to f32 or 16 bits they match the CPU's).
#include "cuda/kernels/launch.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void outer_cos_sin(const double* t, const double* w, T* cos_out, T* sin_out, int64_t n, int64_t f) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < n * f; e += stride) {
    double s, c;
    sincos(t[e / f] * w[e % f], &s, &c);
    cos_out[e] = convert<T>(c);
    sin_out[e] = convert<T>(s);
  }
}

void cuda_outer_cos_sin(const Tensor& t, const Tensor& w, const Tensor& cos, const Tensor& sin) {
  DeviceScope scope(cos);
  const int64_t n = t.size(0), f = w.size(0);
  visit_floating(cos.dtype(), "outer_cos_sin", [&](auto tag) {
    using T = typename decltype(tag)::type;
    outer_cos_sin<T><<<grid_for(n * f, kThreads, kThreads), kThreads, 0, current_stream()>>>(
        static_cast<const double*>(t.data_ptr()), static_cast<const double*>(w.data_ptr()),
        static_cast<T*>(cos.data_ptr()), static_cast<T*>(sin.data_ptr()), n, f);
    CORTEX_CUDA_CHECK_LAUNCH("outer_cos_sin");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(outer_cos_sin_kernel, CUDA, cuda_outer_cos_sin);

}  // namespace cortex::cuda
