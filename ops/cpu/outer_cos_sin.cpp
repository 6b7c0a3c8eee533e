// CPU outer_cos_sin_kernel: std::cos / std::sin of each f64 product, rounded to the output dtype.
#include <cmath>

#include "engine/parallel.h"
#include "ops/kernels.h"

namespace cortex {
namespace {

void cpu_outer_cos_sin(const Tensor& t, const Tensor& w, const Tensor& cos, const Tensor& sin) {
  const int64_t n = t.size(0), f = w.size(0);
  const double* pt = static_cast<const double*>(t.data_ptr());
  const double* pw = static_cast<const double*>(w.data_ptr());
  visit_floating(cos.dtype(), "outer_cos_sin", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* pc = static_cast<T*>(cos.data_ptr());
    T* ps = static_cast<T*>(sin.data_ptr());
    parallel_for(n, std::max<int64_t>(1, 4096 / f), [&](int64_t begin, int64_t end) {
      for (int64_t i = begin; i < end; ++i)
        for (int64_t k = 0; k < f; ++k) {
          const double angle = pt[i] * pw[k];
          pc[i * f + k] = convert<T>(std::cos(angle));
          ps[i * f + k] = convert<T>(std::sin(angle));
        }
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(outer_cos_sin_kernel, CPU, cpu_outer_cos_sin);

}  // namespace cortex
