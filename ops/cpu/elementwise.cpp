// CPU reference kernels for unary, binary and where.
#include <type_traits>

#include "engine/strided_loop.h"
#include "ops/kernels.h"
#include "ops/scalar_math.h"

namespace cortex {
namespace {

template <typename T>
using math_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, compute_t<T>, double>;

void cpu_unary(UnaryOp op, const Tensor& x, double alpha, const Tensor& out) {
  visit_dtype(x.dtype(), "unary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = math_t<T>;
    const T* in = static_cast<const T*>(x.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    const C a = static_cast<C>(alpha);
    for_each_row<2>(out.shape(), {&out.strides(), &x.strides()}, [&](auto off, int64_t n, auto st) {
      for (int64_t j = 0; j < n; ++j)
        o[off[0] + j * st[0]] = convert<T>(scalar::unary<C>(op, convert<C>(in[off[1] + j * st[1]]), a));
    });
  });
}

void cpu_binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out) {
  visit_dtype(a.dtype(), "binary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = math_t<T>;
    const T* pa = static_cast<const T*>(a.data_ptr());
    const T* pb = static_cast<const T*>(b.data_ptr());
    const bool cmp = scalar::is_comparison(op);
    for_each_row<3>(out.shape(), {&out.strides(), &a.strides(), &b.strides()}, [&](auto off, int64_t n, auto st) {
      if (cmp) {
        bool* o = static_cast<bool*>(out.data_ptr());
        for (int64_t j = 0; j < n; ++j)
          o[off[0] + j * st[0]] =
              scalar::compare<C>(op, convert<C>(pa[off[1] + j * st[1]]), convert<C>(pb[off[2] + j * st[2]]));
      } else {
        T* o = static_cast<T*>(out.data_ptr());
        for (int64_t j = 0; j < n; ++j)
          o[off[0] + j * st[0]] = convert<T>(
              scalar::binary<C>(op, convert<C>(pa[off[1] + j * st[1]]), convert<C>(pb[off[2] + j * st[2]])));
      }
    });
  });
}

void cpu_where(const Tensor& cond, const Tensor& a, const Tensor& b, const Tensor& out) {
  visit_dtype(a.dtype(), "where", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const bool* pc = static_cast<const bool*>(cond.data_ptr());
    const T* pa = static_cast<const T*>(a.data_ptr());
    const T* pb = static_cast<const T*>(b.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    for_each_row<4>(out.shape(), {&out.strides(), &cond.strides(), &a.strides(), &b.strides()},
                    [&](auto off, int64_t n, auto st) {
                      for (int64_t j = 0; j < n; ++j)
                        o[off[0] + j * st[0]] = pc[off[1] + j * st[1]] ? pa[off[2] + j * st[2]] : pb[off[3] + j * st[3]];
                    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(unary_kernel, CPU, cpu_unary);
CORTEX_REGISTER_KERNEL(binary_kernel, CPU, cpu_binary);
CORTEX_REGISTER_KERNEL(where_kernel, CPU, cpu_where);

}  // namespace cortex
