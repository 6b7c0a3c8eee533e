// Fused attention over packed samples of different lengths: one kernel call forward and one
// backward for the whole batch, however many samples, instead of a chain of matmul/softmax
// launches per sample. The forward saves the per-row log-sum-exp so backward recomputes the
// probabilities instead of storing them.
#include <cmath>
#include <cstdint>
#include <limits>

#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/nn_ops.h"

namespace cortex {
namespace {

constexpr const char* kOp = "segmented_attention";
constexpr int64_t kCudaMaxHeadDim = 128;  // the CUDA kernels keep a row in registers

void check_offsets(const std::vector<int64_t>& off, const char* what, int64_t rows) {
  CORTEX_CHECK(!off.empty() && off.front() == 0, kOp, what, " offsets must be B+1 entries starting at 0, got ",
               off.empty() ? std::string("none") : "first entry " + std::to_string(off.front()));
  for (size_t i = 1; i < off.size(); ++i)
    CORTEX_CHECK(off[i] >= off[i - 1], kOp, what, " offsets decrease at sample ", i - 1, " (", off[i - 1], " -> ",
                 off[i], ")");
  CORTEX_CHECK(off.back() == rows, kOp, what, " offsets end at ", off.back(), " but there are ", rows, " ", what,
               " rows");
}

void check_operands(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k, const Tensor& v,
                    const std::vector<int64_t>& k_offsets, double scale) {
  CORTEX_CHECK(q.defined() && k.defined() && v.defined(), kOp, "undefined q, k or v");
  CORTEX_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, kOp, "expected q [Nq, H, D], k and v [Nk, H, D], got q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(is_floating(q.dtype()) && q.dtype() == k.dtype() && q.dtype() == v.dtype(), kOp,
               "q, k, v must share a floating dtype, got q ", q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(q.device() == k.device() && q.device() == v.device(), kOp, "q, k, v on different devices: q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(k.shape() == v.shape() && q.size(1) == k.size(1) && q.size(2) == k.size(2), kOp,
               "q [Nq, H, D], k and v [Nk, H, D] must share H and D (and k, v their shape), got q ", q.describe(),
               ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(q.size(2) > 0, kOp, "needs a non-zero head dim, got q ", q.describe());
  CORTEX_CHECK(std::isfinite(scale) && scale >= 0, kOp, "scale must be finite and >= 0 (0: 1/sqrt(D)), got ", scale);
  check_offsets(q_offsets, "query", q.size(0));
  check_offsets(k_offsets, "key", k.size(0));
  CORTEX_CHECK(q_offsets.size() == k_offsets.size(), kOp, "query offsets describe ", q_offsets.size() - 1,
               " samples but key offsets ", k_offsets.size() - 1);
  if (q.device().is_cuda()) {
    CORTEX_CHECK(q.dtype() != DType::f64, kOp, "f64 is CPU only; got q ", q.describe());
    CORTEX_CHECK(q.size(2) <= kCudaMaxHeadDim, kOp, "the CUDA kernels take head dims up to ", kCudaMaxHeadDim,
                 ", got q ", q.describe());
    constexpr int64_t kMaxRows = std::numeric_limits<int32_t>::max();
    CORTEX_CHECK(q.size(1) <= 65535, kOp, "the CUDA kernels take up to 65535 heads (one grid dim), got q ",
                 q.describe());
    CORTEX_CHECK(q.size(0) <= kMaxRows && k.size(0) <= kMaxRows, kOp, "the CUDA kernels index rows in 32 bits; got q ",
                 q.describe(), ", k ", k.describe());
  }
}

// t's data contiguous, without autograd history (the kernels only read it).
Tensor dense(const Tensor& t) { return data_contiguous(t).detach(); }

}  // namespace

Tensor segmented_attention(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k, const Tensor& v,
                           const std::vector<int64_t>& k_offsets, double scale) {
  check_operands(q, q_offsets, k, v, k_offsets, scale);
  const double s = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  const DType stat = q.dtype() == DType::f64 ? DType::f64 : DType::f32;
  Tensor qc = dense(q), kc = dense(k), vc = dense(v);
  Tensor out = empty(q.shape(), q.dtype(), q.device());
  Tensor lse = empty({q.size(0), q.size(1)}, stat, q.device());
  if (out.numel() > 0) segmented_attention_kernel().get(q.device())(qc, q_offsets, kc, vc, k_offsets, s, out, lse);
  return autograd::record(
      kOp, out, {q, k, v},
      [qc, kc, vc, q_offsets, k_offsets, s, saved = out.detach(), lse](const Tensor& g,
                                                                        const autograd::NeedsGrad& needs) {
        Tensor gq = empty(qc.shape(), qc.dtype(), qc.device());
        Tensor gk = empty(kc.shape(), kc.dtype(), kc.device());
        Tensor gv = empty(vc.shape(), vc.dtype(), vc.device());
        if (gq.numel() + gk.numel() > 0)
          segmented_attention_backward_kernel().get(qc.device())(qc, q_offsets, kc, vc, k_offsets, s, saved, lse,
                                                                 dense(g), gq, gk, gv);
        return std::vector<Tensor>{needs[0] ? gq : Tensor(), needs[1] ? gk : Tensor(), needs[2] ? gv : Tensor()};
      });
}

}  // namespace cortex
