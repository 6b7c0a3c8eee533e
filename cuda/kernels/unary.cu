// CUDA unary_kernel: out = op(x, alpha) with the formulas of ops/scalar_math.h, every dtype
// (16-bit floats compute in FastFloat: float with fast exp/log/tanh).
#include "cuda/kernels/elementwise_launch.cuh"
#include "cuda/kernels/fast_float.cuh"
#include "ops/kernels.h"
#include "ops/scalar_math.h"

namespace cortex::cuda {
namespace {

// kOp >= 0 fixes the op at compile time (see with_op); -1 reads it from `op`.
template <typename T, int kOp = -1>
struct UnaryElementwise {
  static constexpr size_t N = 2;
  static constexpr int kVec() { return vec_for<T>(); }
  using C = elementwise_math_t<T>;
  static constexpr bool kSpecialize = std::is_floating_point_v<compute_t<T>>;
  static constexpr int kUnroll = kSpecialize ? 4 : 1;
  template <int VEC>
  struct Inputs {
    Vec<T, VEC> x;
  };
  T* out;
  const T* in;
  UnaryOp op;
  C alpha;

  template <typename Body>
  __device__ __forceinline__ void with_op(Body&& body) const {
    dispatch_op<0, static_cast<int>(UnaryOp::clamp_max) + 1>(static_cast<int>(op), [&](auto k) {
      body(UnaryElementwise<T, decltype(k)::value>{out, in, op, alpha});
    });
  }

  template <int VEC, typename Index>
  __device__ __forceinline__ Inputs<VEC> load(const Index (&row)[N], Index col, unsigned broadcast) const {
    const bool bx = broadcast & 2u;
    return {load_vec<VEC>(in + row[1] + (bx ? 0 : col), bx)};
  }
  template <int VEC, typename Index>
  __device__ __forceinline__ void store(const Index (&row)[N], Index col, const Inputs<VEC>& a) const {
    const UnaryOp o = kOp >= 0 ? static_cast<UnaryOp>(kOp) : op;
    Vec<T, VEC> y;
#pragma unroll
    for (int i = 0; i < VEC; ++i) y.v[i] = from_math<T>(scalar::unary<C>(o, to_math<C>(a.x.v[i]), alpha));
    store_vec<VEC>(out + row[0] + col, y);
  }
};

void cuda_unary(UnaryOp op, const Tensor& x, double alpha, const Tensor& out) {
  DeviceScope scope(out);
  visit_dtype(x.dtype(), "unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = typename UnaryElementwise<T>::C;
    const UnaryElementwise<T> f{static_cast<T*>(out.data_ptr()), static_cast<const T*>(x.data_ptr()), op,
                                C(static_cast<math_t<T>>(alpha))};
    launch_elementwise(f, {&out, &x}, "unary");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(unary_kernel, CUDA, cuda_unary);

}  // namespace cortex::cuda
