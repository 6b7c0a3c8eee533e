// fill_kernel and random_kernel for CUDA. Random numbers come from the same Philox stream
// as the CPU kernel (engine/philox.h): element i takes stream element i, and the affine maps
// are evaluated with explicit round-to-nearest operations (no fused multiply-add), so
// uniform, bernoulli and randint match the CPU bit for bit; normal differs only by the
// device's logf/cosf (a few ulp).
#include "cuda/runtime.h"
#include "cuda/strided_meta.h"
#include "engine/factory.h"
#include "engine/philox.h"

namespace cortex::cuda {
namespace {

constexpr int kThreads = 256;

template <typename T>
__global__ void fill_strided(T* __restrict__ out, T value, int64_t n, StridedMeta<1> m) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[m.offsets(i)[0]] = value;
}

template <typename T>
bool all_bytes_zero(const T& v) {
  const unsigned char* p = reinterpret_cast<const unsigned char*>(&v);
  for (size_t i = 0; i < sizeof(T); ++i)
    if (p[i] != 0) return false;
  return true;
}

void cuda_fill(const Tensor& dst, double value) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  const int device = dst.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = current_stream(device);
  visit_dtype(dst.dtype(), "fill_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = convert<T>(value);
    if (dst.is_contiguous() && all_bytes_zero(v)) {
      CORTEX_CUDA_CHECK(cudaMemsetAsync(dst.data_ptr(), 0, dst.nbytes(), stream));
      return;
    }
    const StridedMeta<1> meta = make_strided_meta<1>("fill_", dst.shape(), {&dst.strides()});
    fill_strided<T><<<grid_blocks(n, kThreads, device), kThreads, 0, stream>>>(static_cast<T*>(dst.data_ptr()), v, n,
                                                                              meta);
    CORTEX_CUDA_CHECK_LAUNCH("fill_strided");
  });
}

struct RandomParams {
  RandomKind kind;
  double a;     // low, mean or p
  double b;     // high or stddev
  double span;  // high - low, computed once on the host exactly as the CPU computes it
  uint64_t range;
  uint64_t seed;
  uint64_t stream;
};

// Mirrors random_value in engine/cpu_kernels.cpp.
template <typename T>
__device__ T random_value(const RandomParams& p, uint64_t i) {
  switch (p.kind) {
    case RandomKind::uniform: {
      const double u = static_cast<double>(philox::uniform(p.seed, p.stream, i));
      return convert<T>(__dadd_rn(p.a, __dmul_rn(p.span, u)));
    }
    case RandomKind::normal: {
      const double z = static_cast<double>(philox::normal(p.seed, p.stream, i));
      return convert<T>(__dadd_rn(p.a, __dmul_rn(p.b, z)));
    }
    case RandomKind::bernoulli:
      return convert<T>(philox::uniform(p.seed, p.stream, i) < static_cast<float>(p.a) ? 1.0 : 0.0);
    case RandomKind::randint: {
      const uint64_t word = (static_cast<uint64_t>(philox::word(p.seed, p.stream, 2 * i)) << 32) |
                            philox::word(p.seed, p.stream, 2 * i + 1);
      return convert<T>(static_cast<double>(static_cast<int64_t>(p.a) + static_cast<int64_t>(word % p.range)));
    }
  }
  return T{};
}

template <typename T>
__global__ void random_fill(T* __restrict__ out, int64_t n, RandomParams p) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
    out[i] = random_value<T>(p, static_cast<uint64_t>(i));
}

void cuda_random(const Tensor& dst, RandomKind kind, double a, double b, Generator::Draw draw) {
  CORTEX_CHECK(dst.is_contiguous(), "random", "expects a contiguous destination, got ", dst.describe(), " strides ",
               shape_str(dst.strides()));
  const int64_t n = dst.numel();
  if (n == 0) return;
  const int device = dst.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = current_stream(device);
  RandomParams p{kind, a, b, b - a, kind == RandomKind::randint ? static_cast<uint64_t>(b - a) : 0, draw.seed,
                 draw.stream};
  visit_dtype(dst.dtype(), "random", [&](auto tag) {
    using T = typename decltype(tag)::type;
    random_fill<T><<<grid_blocks(n, kThreads, device), kThreads, 0, stream>>>(static_cast<T*>(dst.data_ptr()), n, p);
    CORTEX_CUDA_CHECK_LAUNCH("random_fill");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(fill_kernel, CUDA, cuda_fill);
CORTEX_REGISTER_KERNEL(random_kernel, CUDA, cuda_random);

}  // namespace cortex::cuda
