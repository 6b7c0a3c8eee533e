// CUDA binary_kernel: arithmetic, comparisons (bool output) and the activation derivatives
// of the backward pass, with the formulas of ops/scalar_math.h, every dtype.
#include "cuda/kernels/elementwise_launch.cuh"
#include "ops/kernels.h"
#include "ops/scalar_math.h"

namespace cortex::cuda {
namespace {

// Out is T for arithmetic and bool for comparisons.
template <typename T, typename Out>
struct BinaryElementwise {
  static constexpr size_t N = 3;
  static constexpr int kVec = vec_for<T, Out>();
  using C = math_t<T>;
  Out* out;
  const T* a;
  const T* b;
  BinaryOp op;

  __device__ __forceinline__ Out compute(T x, T y) const {
    if constexpr (std::is_same_v<Out, bool>) {
      return scalar::compare<C>(op, convert<C>(x), convert<C>(y));
    } else {
      return convert<T>(scalar::binary<C>(op, convert<C>(x), convert<C>(y)));
    }
  }

  template <int VEC, typename Index>
  __device__ __forceinline__ void apply(const Index (&row)[N], Index col, unsigned broadcast) const {
    const bool ba = broadcast & 2u, bb = broadcast & 4u;
    const auto va = load_vec<VEC>(a + row[1] + (ba ? 0 : col), ba);
    const auto vb = load_vec<VEC>(b + row[2] + (bb ? 0 : col), bb);
    Vec<Out, VEC> r;
#pragma unroll
    for (int i = 0; i < VEC; ++i) r.v[i] = compute(va.v[i], vb.v[i]);
    store_vec<VEC>(out + row[0] + col, r);
  }
};

template <typename T, typename Out>
void launch_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const BinaryElementwise<T, Out> f{static_cast<Out*>(out.data_ptr()), static_cast<const T*>(a.data_ptr()),
                                    static_cast<const T*>(b.data_ptr()), op};
  launch_elementwise(f, {&out, &a, &b}, "binary");
}

void cuda_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  DeviceScope scope(out);
  visit_dtype(a.dtype(), "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (scalar::is_comparison(op)) {
      launch_binary<T, bool>(op, a, b, out);
    } else {
      launch_binary<T, T>(op, a, b, out);
    }
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(binary_kernel, CUDA, cuda_binary);

}  // namespace cortex::cuda
