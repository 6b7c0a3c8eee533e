// CUDA scatter_add_kernel: out[i][idx[i][j]] += src[i][j] along dim, every dtype.
//
// Two strategies:
//   lines (deterministic): one thread per position outside dim walks its line along dim in
//     order, exactly as the CPU kernel does, so results match it bit for bit. Lines of
//     different positions never touch the same output element. Used when there are enough
//     lines to fill the GPU or the lines are short (e.g. the cross-entropy backward).
//   atomics: one thread per index element adds with an atomic. Floating-point sums then
//     depend on the order the atomics land in, so repeated runs may differ in the last
//     bits; 16-bit and 1-byte types use a compare-and-swap on the enclosing 32-bit word.
#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/strided_indexer.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

template <typename T>
using sum_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, compute_t<T>, int64_t>;

template <typename T>
__device__ __forceinline__ void add_to(T* dst, T v) {
  *dst = convert<T>(convert<sum_t<T>>(*dst) + convert<sum_t<T>>(v));
}

template <typename T>
__device__ __forceinline__ void atomic_add_to(T* dst, T v) {
  if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double> || std::is_same_v<T, int32_t>) {
    atomicAdd(dst, v);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    atomicAdd(reinterpret_cast<unsigned long long*>(dst), static_cast<unsigned long long>(v));
  } else {
    static_assert(sizeof(T) <= 2, "sub-word types only");
    const uintptr_t address = reinterpret_cast<uintptr_t>(dst);
    unsigned* word = reinterpret_cast<unsigned*>(address & ~uintptr_t{3});
    const unsigned shift = static_cast<unsigned>(address & 3) * 8;
    const unsigned mask = ((1u << (sizeof(T) * 8)) - 1u) << shift;
    unsigned old = *word, assumed;
    do {
      assumed = old;
      T current;
      const auto bits = static_cast<std::conditional_t<sizeof(T) == 1, uint8_t, uint16_t>>((assumed & mask) >> shift);
      memcpy(&current, &bits, sizeof(T));
      add_to(&current, v);
      std::conditional_t<sizeof(T) == 1, uint8_t, uint16_t> next_bits;
      memcpy(&next_bits, &current, sizeof(T));
      const unsigned next = (assumed & ~mask) | (static_cast<unsigned>(next_bits) << shift);
      old = atomicCAS(word, assumed, next);
    } while (old != assumed);
  }
}

// Operand order in the indexers: 0 = out (dim stride zeroed), 1 = idx, 2 = src.
template <typename T, typename I>
__global__ void scatter_add_lines_kernel(T* out, const I* idx, const T* src, StridedIndexer<3> lines, int64_t count,
                                         int64_t len, int64_t out_step, int64_t idx_step, int64_t src_step) {
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < count;
       p += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[3];
    lines.offsets(p, off);
    for (int64_t k = 0; k < len; ++k)
      add_to(out + off[0] + static_cast<int64_t>(idx[off[1] + k * idx_step]) * out_step, src[off[2] + k * src_step]);
  }
}

template <typename T, typename I>
__global__ void scatter_add_atomic_kernel(T* out, const I* idx, const T* src, StridedIndexer<3> all, int64_t count,
                                          int64_t out_step) {
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < count;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t off[3];
    all.offsets(t, off);
    atomic_add_to(out + off[0] + static_cast<int64_t>(idx[off[1]]) * out_step, src[off[2]]);
  }
}

void cuda_scatter_add(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  DeviceScope scope(out);
  if (idx.numel() == 0) return;
  const int64_t len = idx.size(dim), lines = idx.numel() / len;
  const bool by_lines = len <= 16 || lines >= int64_t{sm_count()} * 256;
  cudaStream_t stream = current_stream();
  // out walked with a zero stride along dim: the index supplies that coordinate.
  Shape out_strides = out.strides(), idx_strides = idx.strides(), src_strides = src.strides();
  Shape shape = idx.shape();
  out_strides[static_cast<size_t>(dim)] = 0;
  if (by_lines) {  // dim itself is looped over inside the thread
    shape[static_cast<size_t>(dim)] = 1;
  }
  const StridedPlan<3> plan(shape, {&out_strides, &idx_strides, &src_strides});
  visit_dtype(out.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    visit_index(idx.dtype(), "scatter_add", [&](auto itag) {
      using I = typename decltype(itag)::type;
      T* po = static_cast<T*>(out.data_ptr());
      const I* pi = static_cast<const I*>(idx.data_ptr());
      const T* ps = static_cast<const T*>(src.data_ptr());
      for_each_indexer<3>(plan, [&](const StridedIndexer<3>& ix, int64_t count) {
        const unsigned grid = grid_for(count, 256, 256);
        if (by_lines) {
          scatter_add_lines_kernel<T, I><<<grid, 256, 0, stream>>>(po, pi, ps, ix, count, len, out.stride(dim),
                                                                   idx.stride(dim), src.stride(dim));
        } else {
          scatter_add_atomic_kernel<T, I><<<grid, 256, 0, stream>>>(po, pi, ps, ix, count, out.stride(dim));
        }
        CORTEX_CUDA_CHECK_LAUNCH("scatter_add");
      });
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(scatter_add_kernel, CUDA, cuda_scatter_add);

}  // namespace cortex::cuda
