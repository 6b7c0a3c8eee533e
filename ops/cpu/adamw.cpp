// CPU AdamW: one pass over each tensor's elements, parallel for large tensors.
#include <cmath>
#include <type_traits>

#include "engine/parallel.h"
#include "ops/kernels.h"

namespace cortex {
namespace {

template <typename P, typename G, typename M>
void adamw_one(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
               const Tensor& model_copy, const AdamWHyper& h) {
  using C = std::conditional_t<std::is_same_v<P, double>, double, float>;
  P* p = static_cast<P*>(param.data_ptr());
  const G* g = static_cast<const G*>(grad.data_ptr());
  C* m = static_cast<C*>(exp_avg.data_ptr());
  C* v = static_cast<C*>(exp_avg_sq.data_ptr());
  M* copy = nullptr;
  if constexpr (!std::is_void_v<M>) copy = static_cast<M*>(model_copy.data_ptr());
  const double t = static_cast<double>(h.step);
  const C decay = static_cast<C>(1.0 - h.lr * h.weight_decay);
  const C b1 = static_cast<C>(h.beta1), b2 = static_cast<C>(h.beta2);
  const C one_minus_b1 = static_cast<C>(1.0 - h.beta1), one_minus_b2 = static_cast<C>(1.0 - h.beta2);
  const C step_size = static_cast<C>(h.lr / (1.0 - std::pow(h.beta1, t)));
  const C inv_sqrt_bc2 = static_cast<C>(1.0 / std::sqrt(1.0 - std::pow(h.beta2, t)));
  const C eps = static_cast<C>(h.eps);
  parallel_for(param.numel(), 1 << 15, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      const C gi = convert<C>(g[i]);
      const C mi = b1 * m[i] + one_minus_b1 * gi;
      const C vi = b2 * v[i] + one_minus_b2 * gi * gi;
      m[i] = mi;
      v[i] = vi;
      const C pi = convert<C>(p[i]) * decay - step_size * mi / (std::sqrt(vi) * inv_sqrt_bc2 + eps);
      p[i] = convert<P>(pi);
      if constexpr (!std::is_void_v<M>) copy[i] = convert<M>(pi);
    }
  });
}

void check_tensor(const Tensor& t, const Tensor& param, DType dtype, const char* what, size_t i) {
  CORTEX_CHECK(t.defined() && t.is_contiguous() && t.shape() == param.shape() && t.dtype() == dtype, "adamw",
               what, " ", i, " must be contiguous ", dtype_name(dtype), shape_str(param.shape()), ", got ",
               t.describe());
}

void cpu_adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avg,
               const std::vector<Tensor>& exp_avg_sq, const std::vector<Tensor>& model_copies, const AdamWHyper& h) {
  const size_t n = params.size();
  CORTEX_CHECK(grads.size() == n && exp_avg.size() == n && exp_avg_sq.size() == n &&
                   (model_copies.empty() || model_copies.size() == n),
               "adamw", "list lengths differ: ", n, " params, ", grads.size(), " grads, ", exp_avg.size(), " exp_avg, ",
               exp_avg_sq.size(), " exp_avg_sq, ", model_copies.size(), " model copies");
  CORTEX_CHECK(h.step >= 1, "adamw", "step must be at least 1, got ", h.step);
  for (size_t i = 0; i < n; ++i) {
    const Tensor& p = params[i];
    CORTEX_CHECK(p.defined() && p.is_contiguous() && is_floating(p.dtype()), "adamw", "param ", i,
                 " must be a contiguous floating tensor, got ", p.describe());
    const DType state = p.dtype() == DType::f64 ? DType::f64 : DType::f32;
    CORTEX_CHECK(grads[i].defined() && is_floating(grads[i].dtype()), "adamw", "grad ", i,
                 " must be floating, got ", grads[i].describe());
    check_tensor(grads[i], p, grads[i].dtype(), "grad", i);
    check_tensor(exp_avg[i], p, state, "exp_avg", i);
    check_tensor(exp_avg_sq[i], p, state, "exp_avg_sq", i);
    const Tensor copy = model_copies.empty() ? Tensor() : model_copies[i];
    if (copy.defined()) check_tensor(copy, p, copy.dtype(), "model copy", i);
    visit_floating(p.dtype(), "adamw", [&](auto ptag) {
      using P = typename decltype(ptag)::type;
      visit_floating(grads[i].dtype(), "adamw", [&](auto gtag) {
        using G = typename decltype(gtag)::type;
        if (!copy.defined()) return adamw_one<P, G, void>(p, grads[i], exp_avg[i], exp_avg_sq[i], copy, h);
        visit_floating(copy.dtype(), "adamw", [&](auto mtag) {
          using M = typename decltype(mtag)::type;
          adamw_one<P, G, M>(p, grads[i], exp_avg[i], exp_avg_sq[i], copy, h);
        });
      });
    });
  }
}

}  // namespace

CORTEX_REGISTER_KERNEL(adamw_kernel, CPU, cpu_adamw);

}  // namespace cortex
