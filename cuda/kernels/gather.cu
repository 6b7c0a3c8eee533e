// CUDA index_select_kernel and gather_kernel: pure copies, so they run on the raw element
// bits (1, 2, 4 or 8 bytes) of any dtype. Both walk the output with x's stride along `dim`
// set to zero; the index supplies that coordinate. index_select sees its 1-D index as a
// view that is broadcast everywhere but along `dim`.
#include "cuda/kernels/elementwise_launch.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

// Operands: out, idx, x (x's stride along dim zeroed; x_step is the real one).
template <typename T, typename I>
struct GatherElementwise {
  static constexpr size_t N = 3;
  static constexpr int kVec() { return vec_for<T>(); }
  using Elem = T;
  using IndexT = I;
  T* out;
  const I* idx;
  const T* x;
  int64_t x_step;

  static constexpr bool kSpecialize = false;  // no op to specialise for
  static constexpr int kUnroll = 4;

  template <int VEC>
  struct Inputs {
    Vec<T, VEC> r;
  };

  template <int VEC, typename Index>
  __device__ __forceinline__ Inputs<VEC> load(const Index (&row)[N], Index col, unsigned broadcast) const {
    const bool bi = broadcast & 2u, bx = broadcast & 4u;
    Inputs<VEC> in;
    if (bi && !bx) {  // one index for the whole vector (index_select along an outer dim)
      in.r = load_vec<VEC>(x + row[2] + col + static_cast<int64_t>(idx[row[1]]) * x_step, false);
    } else {
#pragma unroll
      for (int j = 0; j < VEC; ++j) {
        const int64_t i = idx[row[1] + (bi ? 0 : col + j)];
        in.r.v[j] = x[row[2] + (bx ? 0 : col + j) + i * x_step];
      }
    }
    return in;
  }
  template <int VEC, typename Index>
  __device__ __forceinline__ void store(const Index (&row)[N], Index col, const Inputs<VEC>& in) const {
    store_vec<VEC>(out + row[0] + col, in.r);
  }
};

template <typename F>
void launch_gather(const Tensor& x, int64_t dim, const Tensor& idx, const Shape& idx_strides, const Tensor& out,
                   const char* name) {
  Shape x_strides = x.strides();
  x_strides[static_cast<size_t>(dim)] = 0;
  // Views with the operands' strides, over the output's shape.
  const Tensor idx_view = idx.view_as_strided(out.shape(), idx_strides, idx.offset());
  const Tensor x_view = x.view_as_strided(out.shape(), x_strides, x.offset());
  const F f{static_cast<typename F::Elem*>(out.data_ptr()), static_cast<const typename F::IndexT*>(idx.data_ptr()),
            static_cast<const typename F::Elem*>(x.data_ptr()), x.stride(dim)};
  // A vector read at a picked row stays aligned only if the row step keeps it so.
  launch_elementwise(f, {&out, &idx_view, &x_view}, name, x.stride(dim) % F::kVec() == 0);
}

// Visits the unsigned type of x's element size and the index type.
template <typename Fn>
void visit_bits(const Tensor& x, const Tensor& idx, const char* name, Fn&& fn) {
  visit_index(idx.dtype(), name, [&](auto itag) {
    using I = typename decltype(itag)::type;
    switch (x.itemsize()) {
      case 1: return fn(GatherElementwise<uint8_t, I>{});
      case 2: return fn(GatherElementwise<uint16_t, I>{});
      case 4: return fn(GatherElementwise<uint32_t, I>{});
      case 8: return fn(GatherElementwise<uint64_t, I>{});
      default: CORTEX_FAIL(name, "unsupported element size ", x.itemsize(), " of ", x.describe());
    }
  });
}

void cuda_index_select(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& out) {
  DeviceScope scope(out);
  Shape idx_strides(static_cast<size_t>(out.dim()), 0);
  idx_strides[static_cast<size_t>(dim)] = idx.dim() == 0 ? 0 : idx.stride(0);
  visit_bits(x, idx, "index_select", [&](auto f) {
    launch_gather<decltype(f)>(x, dim, idx, idx_strides, out, "index_select");
  });
}

void cuda_gather(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& out) {
  DeviceScope scope(out);
  visit_bits(x, idx, "gather", [&](auto f) { launch_gather<decltype(f)>(x, dim, idx, idx.strides(), out, "gather"); });
}

}  // namespace

CORTEX_REGISTER_KERNEL(index_select_kernel, CUDA, cuda_index_select);
CORTEX_REGISTER_KERNEL(gather_kernel, CUDA, cuda_gather);

}  // namespace cortex::cuda
