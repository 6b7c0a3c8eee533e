// CPU reference softmax / log-softmax over the last dim of contiguous rows.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#include "engine/parallel.h"
#include "ops/kernels.h"

namespace cortex {
namespace {

// Row statistics in f32, or f64 for f64 inputs.
template <typename T>
using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

int64_t rows_per_chunk(int64_t cols) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(cols, 1)); }

void cpu_softmax(const Tensor& x, const Tensor& out, bool log) {
  const int64_t cols = x.size(-1), rows = x.numel() / cols;
  visit_floating(x.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    const T* in = static_cast<const T*>(x.data_ptr());
    T* o = static_cast<T*>(out.data_ptr());
    parallel_for(rows, rows_per_chunk(cols), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = in + r * cols;
        T* yr = o + r * cols;
        A m = -std::numeric_limits<A>::infinity();
        for (int64_t j = 0; j < cols; ++j) m = std::max(m, convert<A>(xr[j]));
        A s = 0;
        for (int64_t j = 0; j < cols; ++j) s += std::exp(convert<A>(xr[j]) - m);
        if (log) {
          const A lse = m + std::log(s);
          for (int64_t j = 0; j < cols; ++j) yr[j] = convert<T>(convert<A>(xr[j]) - lse);
        } else {
          const A inv = A(1) / s;
          for (int64_t j = 0; j < cols; ++j) yr[j] = convert<T>(std::exp(convert<A>(xr[j]) - m) * inv);
        }
      }
    });
  });
}

// softmax:     gx = y * (gy - sum(gy * y))
// log_softmax: gx = gy - exp(y) * sum(gy)
void cpu_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx, bool log) {
  const int64_t cols = y.size(-1), rows = y.numel() / cols;
  visit_floating(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    const T* py = static_cast<const T*>(y.data_ptr());
    const T* pg = static_cast<const T*>(gy.data_ptr());
    T* po = static_cast<T*>(gx.data_ptr());
    parallel_for(rows, rows_per_chunk(cols), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* yr = py + r * cols;
        const T* gr = pg + r * cols;
        T* outr = po + r * cols;
        A s = 0;
        if (log) {
          for (int64_t j = 0; j < cols; ++j) s += convert<A>(gr[j]);
          for (int64_t j = 0; j < cols; ++j)
            outr[j] = convert<T>(convert<A>(gr[j]) - std::exp(convert<A>(yr[j])) * s);
        } else {
          for (int64_t j = 0; j < cols; ++j) s += convert<A>(gr[j]) * convert<A>(yr[j]);
          for (int64_t j = 0; j < cols; ++j) outr[j] = convert<T>(convert<A>(yr[j]) * (convert<A>(gr[j]) - s));
        }
      }
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(softmax_kernel, CPU, cpu_softmax);
CORTEX_REGISTER_KERNEL(softmax_backward_kernel, CPU, cpu_softmax_backward);

}  // namespace cortex
