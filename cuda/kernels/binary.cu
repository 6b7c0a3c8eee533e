// CUDA binary_kernel: arithmetic, comparisons (bool output) and the activation derivatives
// of the backward pass, with the formulas of ops/scalar_math.h, every dtype.
#include "cuda/kernels/elementwise_launch.cuh"
#include "cuda/kernels/fast_float.cuh"
#include "ops/kernels.h"
#include "ops/scalar_math.h"

namespace cortex::cuda {
namespace {

// Out is bool for comparisons (kCompare) and T otherwise. Arithmetic on 16-bit floats runs
// in FastFloat; comparisons in the CPU kernel's type.
// kOp >= 0 fixes the op at compile time (see with_op); -1 reads it from `op`.
template <typename T, typename Out, bool kCompare, int kOp = -1>
struct BinaryElementwise {
  static constexpr size_t N = 3;
  static constexpr int kVec() { return vec_for<T, Out>(); }
  using C = std::conditional_t<kCompare, math_t<T>, elementwise_math_t<T>>;
  static constexpr bool kSpecialize = std::is_floating_point_v<compute_t<T>>;
  static constexpr int kUnroll = kSpecialize ? 4 : 1;
  template <int VEC>
  struct Inputs {
    Vec<T, VEC> a, b;
  };
  Out* out;
  const T* a;
  const T* b;
  BinaryOp op;

  template <typename Body>
  __device__ __forceinline__ void with_op(Body&& body) const {
    constexpr int first = kCompare ? static_cast<int>(BinaryOp::eq) : 0;
    constexpr int last = (kCompare ? static_cast<int>(BinaryOp::ge) : static_cast<int>(BinaryOp::tanh_backward)) + 1;
    dispatch_op<first, last>(static_cast<int>(op), [&](auto k) {
      body(BinaryElementwise<T, Out, kCompare, decltype(k)::value>{out, a, b, op});
    });
  }

  __device__ __forceinline__ Out compute(T x, T y) const {
    const BinaryOp o = kOp >= 0 ? static_cast<BinaryOp>(kOp) : op;
    if constexpr (kCompare) {
      return scalar::compare<C>(o, dconvert<C>(x), dconvert<C>(y));
    } else {
      return from_math<T>(scalar::binary<C>(o, to_math<C>(x), to_math<C>(y)));
    }
  }

  template <int VEC, typename Index>
  __device__ __forceinline__ Inputs<VEC> load(const Index (&row)[N], Index col, unsigned broadcast) const {
    const bool ba = broadcast & 2u, bb = broadcast & 4u;
    return {load_vec<VEC>(a + row[1] + (ba ? 0 : col), ba), load_vec<VEC>(b + row[2] + (bb ? 0 : col), bb)};
  }
  template <int VEC, typename Index>
  __device__ __forceinline__ void store(const Index (&row)[N], Index col, const Inputs<VEC>& in) const {
    Vec<Out, VEC> r;
#pragma unroll
    for (int i = 0; i < VEC; ++i) r.v[i] = compute(in.a.v[i], in.b.v[i]);
    store_vec<VEC>(out + row[0] + col, r);
  }
};

template <typename T, typename Out, bool kCompare>
void launch_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  const BinaryElementwise<T, Out, kCompare> f{static_cast<Out*>(out.data_ptr()), static_cast<const T*>(a.data_ptr()),
                                    static_cast<const T*>(b.data_ptr()), op};
  launch_elementwise(f, {&out, &a, &b}, "binary");
}

void cuda_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  DeviceScope scope(out);
  visit_dtype(a.dtype(), "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    if (scalar::is_comparison(op)) {
      launch_binary<T, bool, true>(op, a, b, out);
    } else {
      launch_binary<T, T, false>(op, a, b, out);
    }
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(binary_kernel, CUDA, cuda_binary);

}  // namespace cortex::cuda
