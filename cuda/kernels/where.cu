// CUDA where_kernel: out = cond ? a : b, every dtype, any strides.
#include "cuda/kernels/elementwise_launch.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

template <typename T>
struct WhereElementwise {
  static constexpr size_t N = 4;
  static constexpr int kVec() { return vec_for<T>(); }
  T* out;
  const bool* cond;
  const T* a;
  const T* b;

  static constexpr bool kSpecialize = false;  // no op to specialise for
  static constexpr int kUnroll = 4;

  template <int VEC>
  struct Inputs {
    Vec<bool, VEC> c;
    Vec<T, VEC> a, b;
  };

  template <int VEC, typename Index>
  __device__ __forceinline__ Inputs<VEC> load(const Index (&row)[N], Index col, unsigned broadcast) const {
    const bool bc = broadcast & 2u, ba = broadcast & 4u, bb = broadcast & 8u;
    return {load_vec<VEC>(cond + row[1] + (bc ? 0 : col), bc), load_vec<VEC>(a + row[2] + (ba ? 0 : col), ba),
            load_vec<VEC>(b + row[3] + (bb ? 0 : col), bb)};
  }
  template <int VEC, typename Index>
  __device__ __forceinline__ void store(const Index (&row)[N], Index col, const Inputs<VEC>& in) const {
    Vec<T, VEC> r;
#pragma unroll
    for (int i = 0; i < VEC; ++i) r.v[i] = in.c.v[i] ? in.a.v[i] : in.b.v[i];
    store_vec<VEC>(out + row[0] + col, r);
  }
};

void cuda_where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  DeviceScope scope(out);
  visit_dtype(a.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const WhereElementwise<T> f{static_cast<T*>(out.data_ptr()), static_cast<const bool*>(cond.data_ptr()),
                                static_cast<const T*>(a.data_ptr()), static_cast<const T*>(b.data_ptr())};
    launch_elementwise(f, {&out, &cond, &a, &b}, "where");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(where_kernel, CUDA, cuda_where);

}  // namespace cortex::cuda
