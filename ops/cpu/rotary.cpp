// CPU rotary_kernel: a plain loop per (row, head) over strided x, cos and sin. Products are
// rounded to f32 (f64) before the sum, as the mul/add composition rotate() used to be, so f32
// results are the same bits (the build targets baseline x86-64, which has no FMA to contract to).
#include <algorithm>
#include <type_traits>

#include "engine/parallel.h"
#include "ops/kernels.h"

namespace cortex {
namespace {

void cpu_rotary(const Tensor& x, const Tensor& cos, const Tensor& sin, bool inverse, const Tensor& out) {
  const int64_t n = x.size(0), h = x.size(1), dh = x.size(2), f = cos.size(2);
  const Shape &xs = x.strides(), &cs = cos.strides(), &ss = sin.strides();
  visit_floating(x.dtype(), "rotary", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using M = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pc = static_cast<const T*>(cos.data_ptr());
    const T* ps = static_cast<const T*>(sin.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    parallel_for(n * h, std::max<int64_t>(1, 16384 / dh), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t i = r / h, j = r % h;
        const T* xr = px + i * xs[0] + j * xs[1];
        const T* cr = pc + i * cs[0] + j * cs[1];
        const T* sr = ps + i * ss[0] + j * ss[1];
        T* orow = po + r * dh;
        for (int64_t k = 0; k < f; ++k) {
          const M x1 = convert<M>(xr[k * xs[2]]), x2 = convert<M>(xr[(f + k) * xs[2]]);
          const M c = convert<M>(cr[k * cs[2]]);
          const M s = inverse ? -convert<M>(sr[k * ss[2]]) : convert<M>(sr[k * ss[2]]);
          const M x1c = x1 * c, x2s = x2 * s, x2c = x2 * c, x1s = x1 * s;
          orow[k] = convert<T>(x1c - x2s);
          orow[f + k] = convert<T>(x2c + x1s);
        }
        for (int64_t k = 2 * f; k < dh; ++k) orow[k] = xr[k * xs[2]];
      }
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(rotary_kernel, CPU, cpu_rotary);

}  // namespace cortex
