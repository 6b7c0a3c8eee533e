// CPU reference kernels for sum/max/min over a set of dims and argmax along one dim.
#include <cmath>
#include <limits>

#include "engine/strided_loop.h"
#include "ops/kernels.h"
#include "ops/reduction_layout.h"

namespace cortex {
namespace {

template <typename T>
using acc_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, double, int64_t>;

template <typename A>
bool is_nan(A v) {
  if constexpr (std::is_floating_point_v<A>) return std::isnan(v);
  else return false;
}

void cpu_reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  const ReductionLayout split(x, out, dims);
  const StridedPlan<1> reduced_plan(split.reduced_shape, {&split.reduced_strides});
  const int64_t reduced_rows = reduced_plan.num_rows(), reduced_len = reduced_plan.row_length();
  const int64_t reduced_inner = reduced_plan.inner_strides()[0];

  visit_dtype(x.dtype(), "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    const T* in = static_cast<const T*>(x.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    for_each_row<2>(split.kept_shape, {&split.kept_out_strides, &split.kept_x_strides}, [&](auto off, int64_t n, auto st) {
      for (int64_t j = 0; j < n; ++j) {
        const T* base = in + off[1] + j * st[1];
        A acc = op == ReduceOp::sum ? A(0) : static_cast<A>(convert<compute_t<T>>(base[0]));
        for (int64_t row = 0; row < reduced_rows; ++row) {
          const T* p = base + reduced_plan.row_offsets(row)[0];
          for (int64_t k = 0; k < reduced_len; ++k) {
            const A v = static_cast<A>(convert<compute_t<T>>(p[k * reduced_inner]));
            // NaN propagates: once taken, no comparison displaces it.
            if (op == ReduceOp::sum) acc += v;
            else if (op == ReduceOp::max) acc = v > acc || is_nan(v) ? v : acc;
            else acc = v < acc || is_nan(v) ? v : acc;
          }
        }
        o[off[0] + j * st[0]] = convert<T>(static_cast<compute_t<T>>(acc));
      }
    }, 4096);
  });
}

void cpu_argmax(const Tensor& x, int64_t dim, const Tensor& out) {
  const ReductionLayout split(x, out, {dim});
  const int64_t len = x.size(dim), stride = x.stride(dim);
  visit_dtype(x.dtype(), "argmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using C = compute_t<T>;
    const T* in = static_cast<const T*>(x.data_ptr());
    int64_t* o = static_cast<int64_t*>(out.data_ptr());
    for_each_row<2>(split.kept_shape, {&split.kept_out_strides, &split.kept_x_strides}, [&](auto off, int64_t n, auto st) {
      for (int64_t j = 0; j < n; ++j) {
        const T* base = in + off[1] + j * st[1];
        int64_t best = 0;
        C best_v = convert<C>(base[0]);
        for (int64_t k = 1; k < len; ++k) {
          const C v = convert<C>(base[k * stride]);
          if (v > best_v) {
            best_v = v;
            best = k;
          }
        }
        o[off[0] + j * st[0]] = best;
      }
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(reduce_kernel, CPU, cpu_reduce);
CORTEX_REGISTER_KERNEL(argmax_kernel, CPU, cpu_argmax);

}  // namespace cortex
