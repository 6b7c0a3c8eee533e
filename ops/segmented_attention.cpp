// Fused attention over packed samples of different lengths: one kernel call forward and one
// backward for the whole batch, however many samples, instead of a chain of matmul/softmax
// launches per sample. The forward saves the per-row log-sum-exp so backward recomputes the
// probabilities instead of storing them. The device-offset variant (inference only) takes
// its key offsets as a device tensor so CUDA graph replays can change the packing.
#include <cmath>
#include <cstdint>
#include <limits>

#include "autograd/grad_mode.h"
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

// What both variants require of q, k, v and scale (offsets aside).
void check_qkv(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const char* op) {
  CORTEX_CHECK(q.defined() && k.defined() && v.defined(), op, "undefined q, k or v");
  CORTEX_CHECK(q.dim() == 3 && k.dim() == 3 && v.dim() == 3, op, "expected q [Nq, H, D], k and v [Nk, H, D], got q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(is_floating(q.dtype()) && q.dtype() == k.dtype() && q.dtype() == v.dtype(), op,
               "q, k, v must share a floating dtype, got q ", q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(q.device() == k.device() && q.device() == v.device(), op, "q, k, v on different devices: q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(k.shape() == v.shape() && q.size(1) == k.size(1) && q.size(2) == k.size(2), op,
               "q [Nq, H, D], k and v [Nk, H, D] must share H and D (and k, v their shape), got q ", q.describe(),
               ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(q.size(2) > 0, op, "needs a non-zero head dim, got q ", q.describe());
  CORTEX_CHECK(std::isfinite(scale) && scale >= 0, op, "scale must be finite and >= 0 (0: 1/sqrt(D)), got ", scale);
  if (q.device().is_cuda()) {
    CORTEX_CHECK(q.dtype() != DType::f64, op, "f64 is CPU only; got q ", q.describe());
    CORTEX_CHECK(q.size(2) <= kCudaMaxHeadDim, op, "the CUDA kernels take head dims up to ", kCudaMaxHeadDim,
                 ", got q ", q.describe());
    constexpr int64_t kMaxRows = std::numeric_limits<int32_t>::max();
    CORTEX_CHECK(q.size(1) <= 65535, op, "the CUDA kernels take up to 65535 heads (one grid dim), got q ",
                 q.describe());
    CORTEX_CHECK(q.size(0) <= kMaxRows && k.size(0) <= kMaxRows, op, "the CUDA kernels index rows in 32 bits; got q ",
                 q.describe(), ", k ", k.describe());
  }
}

void check_operands(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k, const Tensor& v,
                    const std::vector<int64_t>& k_offsets, double scale) {
  check_qkv(q, k, v, scale, kOp);
  check_offsets(q_offsets, "query", q.size(0));
  check_offsets(k_offsets, "key", k.size(0));
  CORTEX_CHECK(q_offsets.size() == k_offsets.size(), kOp, "query offsets describe ", q_offsets.size() - 1,
               " samples but key offsets ", k_offsets.size() - 1);
}

// The device-offset variant: offsets i32/i64 [B + 1] beside q; on the CPU also their values.
void check_device_offsets(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& k_offsets, double scale) {
  constexpr const char* op = "segmented_attention_device_offsets";
  check_qkv(q, k, v, scale, op);
  CORTEX_CHECK(!grad_enabled() || !(q.requires_grad() || k.requires_grad() || v.requires_grad()), op,
               "is inference-only (no backward), but q, k or v would record autograd history: q ", q.describe(),
               ", k ", k.describe(), ", v ", v.describe(), " (call it under NoGradGuard)");
  CORTEX_CHECK(k_offsets.defined() && k_offsets.dim() == 1 && k_offsets.numel() >= 1 &&
                   (k_offsets.dtype() == DType::i32 || k_offsets.dtype() == DType::i64),
               op, "key offsets must be i32 or i64 [B + 1], got ",
               k_offsets.defined() ? k_offsets.describe() : "undefined");
  CORTEX_CHECK(k_offsets.device() == q.device(), op, "key offsets ", k_offsets.describe(), " and q ", q.describe(),
               " on different devices");
  const int64_t samples = k_offsets.numel() - 1;
  CORTEX_CHECK(samples > 0 ? q.size(0) % samples == 0 : q.size(0) == 0, op, "q ", q.describe(),
               " must hold the same number of query rows for each of the ", samples, " samples of key offsets ",
               k_offsets.describe());
  if (q.device().is_cuda())
    CORTEX_CHECK(samples <= 65535, op, "the CUDA kernel takes up to 65535 samples (one grid dim), got key offsets ",
                 k_offsets.describe());
  if (!k_offsets.device().is_cpu()) return;
  const std::vector<int64_t> off = k_offsets.to_vector<int64_t>();
  CORTEX_CHECK(off.front() >= 0, op, "key offsets must start at >= 0, got ", off.front());
  for (int64_t b = 0; b < samples; ++b)
    CORTEX_CHECK(off[b + 1] >= off[b], op, "key offsets decrease at sample ", b, " (", off[b], " -> ", off[b + 1], ")");
  CORTEX_CHECK(off.back() <= k.size(0), op, "key offsets end at ", off.back(), " but k ", k.describe(), " has ",
               k.size(0), " rows");
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

Tensor segmented_attention_device_offsets(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& k_offsets,
                                          double scale) {
  check_device_offsets(q, k, v, k_offsets, scale);
  const double s = scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(2)));
  Tensor out = empty(q.shape(), q.dtype(), q.device());
  if (out.numel() > 0)
    segmented_attention_device_offsets_kernel().get(q.device())(dense(q), dense(k), dense(v), dense(k_offsets), s,
                                                                out);
  return out;
}

}  // namespace cortex
