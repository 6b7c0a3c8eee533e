// CPU reference segmented attention over contiguous q [Nq, H, D], k, v [Nk, H, D]. Each
// (query row, head) is one task for the forward and the query gradient; each (key row, head)
// one task for the key and value gradients, which walks its sample's queries in order, so
// every output element has one writer and the result does not depend on threading.
// Arithmetic in f64 for f64 inputs, f32 otherwise.
#include <algorithm>
#include <cmath>
#include <vector>

#include "engine/parallel.h"
#include "ops/kernels.h"

namespace cortex {
namespace {

// The sample that owns `row` (offsets validated: from 0, non-decreasing, ending past row).
int64_t sample_of(const std::vector<int64_t>& offsets, int64_t row) {
  return std::upper_bound(offsets.begin(), offsets.end(), row) - offsets.begin() - 1;
}

template <typename A, typename T>
A dot(const T* a, const T* b, int64_t n) {
  A s = 0;
  for (int64_t c = 0; c < n; ++c) s += convert<A>(a[c]) * convert<A>(b[c]);
  return s;
}

// One (query i, key j) term of the backward, shared by the query-major and key-major passes:
// P_ij recomputed from the saved log-sum-exp, and dS_ij = P_ij (gout_i . v_j - delta_i).
template <typename A>
struct ScoreGrad {
  A prob, ds;
};
template <typename A, typename T>
ScoreGrad<A> score_grad(const T* qi, const T* kj, const T* gi, const T* vj, int64_t d, A scale, A lse, A delta) {
  const A prob = std::exp(dot<A>(qi, kj, d) * scale - lse);
  return {prob, prob * (dot<A>(gi, vj, d) - delta)};
}

int64_t grain_for(int64_t keys, int64_t d) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, keys * d)); }

struct Layout {
  int64_t heads, d;
  int64_t row(int64_t i, int64_t h) const { return (i * heads + h) * d; }  // element offset of row i, head h
};

// One (query row, head): o = softmax(qi k^T * scale) v over keys [k0, k0 + nk) of head h;
// returns the row's natural log-sum-exp (0, and o = 0, without keys). p and acc are scratch.
template <typename A, typename T>
A attend_row(const T* qi, const T* pk, const T* pv, int64_t k0, int64_t nk, int64_t h, const Layout& L, A scale,
             T* o, std::vector<A>& p, std::vector<A>& acc) {
  if (nk == 0) {
    for (int64_t c = 0; c < L.d; ++c) o[c] = convert<T>(A(0));
    return 0;
  }
  p.resize(static_cast<size_t>(nk));
  acc.resize(static_cast<size_t>(L.d));
  A best = -INFINITY;
  for (int64_t j = 0; j < nk; ++j) {
    p[j] = dot<A>(qi, pk + L.row(k0 + j, h), L.d) * scale;
    best = std::max(best, p[j]);
  }
  A total = 0;
  std::fill(acc.begin(), acc.end(), A(0));
  for (int64_t j = 0; j < nk; ++j) {
    const A e = std::exp(p[j] - best);
    total += e;
    const T* vj = pv + L.row(k0 + j, h);
    for (int64_t c = 0; c < L.d; ++c) acc[c] += e * convert<A>(vj[c]);
  }
  for (int64_t c = 0; c < L.d; ++c) o[c] = convert<T>(acc[c] / total);
  return best + std::log(total);
}

// Calls row(i, h, p, acc) for every (query row, head) of q, split over cores; p and acc are
// scratch vectors of the calling task.
template <typename A, typename F>
void for_each_query_head(const Tensor& q, int64_t mean_keys, F&& row) {
  const int64_t heads = q.size(1);
  parallel_for(q.size(0) * heads, grain_for(mean_keys, q.size(2)), [&](int64_t begin, int64_t end) {
    std::vector<A> p, acc;
    for (int64_t t = begin; t < end; ++t) row(t / heads, t % heads, p, acc);
  });
}

void cpu_segmented_attention(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k, const Tensor& v,
                             const std::vector<int64_t>& k_offsets, double scale, const Tensor& out,
                             const Tensor& lse) {
  const Layout L{q.size(1), q.size(2)};
  const int64_t mean_keys = k.size(0) / std::max<int64_t>(1, static_cast<int64_t>(k_offsets.size()) - 1);
  visit_floating(q.dtype(), "segmented_attention", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const T* pq = static_cast<const T*>(q.data_ptr());
    const T* pk = static_cast<const T*>(k.data_ptr());
    const T* pv = static_cast<const T*>(v.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    A* pl = static_cast<A*>(lse.data_ptr());
    for_each_query_head<A>(q, mean_keys, [&](int64_t i, int64_t h, std::vector<A>& p, std::vector<A>& acc) {
      const int64_t b = sample_of(q_offsets, i);
      const int64_t k0 = k_offsets[b], nk = k_offsets[b + 1] - k0;
      pl[i * L.heads + h] =
          attend_row<A>(pq + L.row(i, h), pk, pv, k0, nk, h, L, static_cast<A>(scale), po + L.row(i, h), p, acc);
    });
  });
}

// Sample b owns query rows [b * Lq, (b + 1) * Lq) and key rows [lo, hi), lo = off[b] and
// hi = off[b + 1] clamped as the contract says (the op has checked them on the CPU; the
// clamp keeps this kernel equal to the CUDA one, which cannot check).
void cpu_segmented_attention_device_offsets(const Tensor& q, const Tensor& k, const Tensor& v,
                                            const Tensor& k_offsets, double scale, const Tensor& out) {
  const Layout L{q.size(1), q.size(2)};
  const int64_t samples = k_offsets.numel() - 1, keys = k.size(0);
  const int64_t per_sample = samples > 0 ? q.size(0) / samples : 0;
  const std::vector<int64_t> off = k_offsets.to_vector<int64_t>();
  std::vector<int64_t> lo(static_cast<size_t>(samples)), hi(lo.size());
  int64_t total_keys = 0;
  for (int64_t b = 0; b < samples; ++b) {
    lo[b] = std::clamp<int64_t>(off[b], 0, keys);
    hi[b] = std::clamp<int64_t>(off[b + 1], lo[b], keys);
    total_keys += hi[b] - lo[b];
  }
  const int64_t mean_keys = total_keys / std::max<int64_t>(1, samples);
  visit_floating(q.dtype(), "segmented_attention_device_offsets", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const T* pq = static_cast<const T*>(q.data_ptr());
    const T* pk = static_cast<const T*>(k.data_ptr());
    const T* pv = static_cast<const T*>(v.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    for_each_query_head<A>(q, mean_keys, [&](int64_t i, int64_t h, std::vector<A>& p, std::vector<A>& acc) {
      const int64_t b = i / per_sample;
      attend_row<A>(pq + L.row(i, h), pk, pv, lo[b], hi[b] - lo[b], h, L, static_cast<A>(scale), po + L.row(i, h),
                    p, acc);
    });
  });
}

// With P = softmax(S), S = q k^T * scale and delta_i = sum_c gout[i,c] out[i,c]:
//   dS_ij = P_ij (gout_i . v_j - delta_i);  gq_i = scale sum_j dS_ij k_j;
//   gk_j = scale sum_i dS_ij q_i;           gv_j = sum_i P_ij gout_i.
void cpu_segmented_attention_backward(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k,
                                      const Tensor& v, const std::vector<int64_t>& k_offsets, double scale,
                                      const Tensor& out, const Tensor& lse, const Tensor& gout, const Tensor& gq,
                                      const Tensor& gk, const Tensor& gv) {
  const Layout L{q.size(1), q.size(2)};
  const int64_t samples = static_cast<int64_t>(q_offsets.size()) - 1;
  const int64_t mean_keys = k.size(0) / std::max<int64_t>(1, samples);
  const int64_t mean_queries = q.size(0) / std::max<int64_t>(1, samples);
  visit_floating(q.dtype(), "segmented_attention_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
    const T* pq = static_cast<const T*>(q.data_ptr());
    const T* pk = static_cast<const T*>(k.data_ptr());
    const T* pv = static_cast<const T*>(v.data_ptr());
    const T* po = static_cast<const T*>(out.data_ptr());
    const T* pg = static_cast<const T*>(gout.data_ptr());
    const A* pl = static_cast<const A*>(lse.data_ptr());
    T* pgq = static_cast<T*>(gq.data_ptr());
    T* pgk = static_cast<T*>(gk.data_ptr());
    T* pgv = static_cast<T*>(gv.data_ptr());
    const A sc = static_cast<A>(scale);

    std::vector<A> delta(static_cast<size_t>(q.size(0) * L.heads));
    parallel_for(q.size(0) * L.heads, grain_for(1, L.d), [&](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) delta[t] = dot<A>(pg + t * L.d, po + t * L.d, L.d);
    });

    parallel_for(q.size(0) * L.heads, grain_for(mean_keys, 2 * L.d), [&](int64_t begin, int64_t end) {
      std::vector<A> acc(static_cast<size_t>(L.d));
      for (int64_t t = begin; t < end; ++t) {
        const int64_t i = t / L.heads, h = t % L.heads;
        const int64_t b = sample_of(q_offsets, i);
        const int64_t k0 = k_offsets[b], nk = k_offsets[b + 1] - k0;
        const T* qi = pq + L.row(i, h);
        const T* gi = pg + L.row(i, h);
        std::fill(acc.begin(), acc.end(), A(0));
        for (int64_t j = 0; j < nk; ++j) {
          const T* kj = pk + L.row(k0 + j, h);
          const A ds = score_grad<A>(qi, kj, gi, pv + L.row(k0 + j, h), L.d, sc, pl[t], delta[t]).ds;
          for (int64_t c = 0; c < L.d; ++c) acc[c] += ds * convert<A>(kj[c]);
        }
        T* o = pgq + L.row(i, h);
        for (int64_t c = 0; c < L.d; ++c) o[c] = convert<T>(acc[c] * sc);
      }
    });

    parallel_for(k.size(0) * L.heads, grain_for(mean_queries, 2 * L.d), [&](int64_t begin, int64_t end) {
      std::vector<A> acc_k(static_cast<size_t>(L.d)), acc_v(static_cast<size_t>(L.d));
      for (int64_t t = begin; t < end; ++t) {
        const int64_t j = t / L.heads, h = t % L.heads;
        const int64_t b = sample_of(k_offsets, j);
        const int64_t q0 = q_offsets[b], nq = q_offsets[b + 1] - q0;
        const T* kj = pk + L.row(j, h);
        const T* vj = pv + L.row(j, h);
        std::fill(acc_k.begin(), acc_k.end(), A(0));
        std::fill(acc_v.begin(), acc_v.end(), A(0));
        for (int64_t i = q0; i < q0 + nq; ++i) {
          const int64_t row = i * L.heads + h;
          const T* qi = pq + L.row(i, h);
          const T* gi = pg + L.row(i, h);
          const auto [prob, ds] = score_grad<A>(qi, kj, gi, vj, L.d, sc, pl[row], delta[row]);
          for (int64_t c = 0; c < L.d; ++c) {
            acc_k[c] += ds * convert<A>(qi[c]);
            acc_v[c] += prob * convert<A>(gi[c]);
          }
        }
        T* ok = pgk + L.row(j, h);
        T* ov = pgv + L.row(j, h);
        for (int64_t c = 0; c < L.d; ++c) {
          ok[c] = convert<T>(acc_k[c] * sc);
          ov[c] = convert<T>(acc_v[c]);
        }
      }
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(segmented_attention_kernel, CPU, cpu_segmented_attention);
CORTEX_REGISTER_KERNEL(segmented_attention_backward_kernel, CPU, cpu_segmented_attention_backward);
CORTEX_REGISTER_KERNEL(segmented_attention_device_offsets_kernel, CPU, cpu_segmented_attention_device_offsets);

}  // namespace cortex
