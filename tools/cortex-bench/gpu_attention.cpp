// GPU attention section: the fused segmented_attention op against the per-sample loop it
// replaced (then the latents' dense self-attention paths, below) (one scaled_dot_product_attention per sample on slices, then cat), on the Cortex
// event-encoder shape: 64 samples of 256 latents cross-attending to their own 500..1500
// events (about 1000 on average), 6 heads of 64. Forward alone (no autograd) and forward +
// backward. Times are wall clock per call with the stream synchronised at the end, so the
// loop's host-side launch cost counts, as it does in training.
#ifdef CORTEX_WITH_CUDA
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <utility>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#include "ops/dense_attention.h"
#include "ops/ops.h"
#include "section.h"
#include "table.h"
#include "timing.h"

namespace cortex::bench {
namespace {

const Device kGpu = Device::cuda(0);

std::vector<int64_t> offsets_of(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> off{0};
  for (int64_t n : sizes) off.push_back(off.back() + n);
  return off;
}

// The composition nn/cortex/attention.cpp used before the fused op.
Tensor per_sample_loop(const Tensor& q, const std::vector<int64_t>& qo, const Tensor& k, const Tensor& v,
                       const std::vector<int64_t>& ko) {
  std::vector<Tensor> parts;
  for (size_t b = 0; b + 1 < qo.size(); ++b) {
    const int64_t nq = qo[b + 1] - qo[b], nk = ko[b + 1] - ko[b];
    if (nq == 0) continue;
    if (nk == 0) {
      parts.push_back(zeros({nq, q.size(1), q.size(2)}, q.dtype(), q.device()));
      continue;
    }
    const Tensor qb = transpose(narrow(q, 0, qo[b], nq), 0, 1);
    const Tensor kb = transpose(narrow(k, 0, ko[b], nk), 0, 1);
    const Tensor vb = transpose(narrow(v, 0, ko[b], nk), 0, 1);
    parts.push_back(transpose(scaled_dot_product_attention(qb, kb, vb), 0, 1));
  }
  return cat(parts, 0);
}

using AttentionFn = std::function<Tensor(const Tensor&, const std::vector<int64_t>&, const Tensor&, const Tensor&,
                                         const std::vector<int64_t>&)>;

double wall_ms(const std::function<void()>& fn, double min_seconds) {
  return 1e3 * median_seconds(
                   [&] {
                     fn();
                     CORTEX_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
                   },
                   min_seconds);
}

using QkvFn = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>;

// Wall ms of fn(q, k, v) without autograd, and of fn plus its backward from gout.
std::pair<double, double> forward_and_backward_ms(const QkvFn& fn, const Tensor& q, const Tensor& k, const Tensor& v,
                                                  const Tensor& gout, double min_seconds) {
  double fwd = 0;
  {
    NoGradGuard no_grad;
    fwd = wall_ms([&] { fn(q, k, v); }, min_seconds);
  }
  Tensor ql = q.detach(), kl = k.detach(), vl = v.detach();
  ql.set_requires_grad();
  kl.set_requires_grad();
  vl.set_requires_grad();
  const double both = wall_ms(
      [&] {
        ql.zero_grad();
        kl.zero_grad();
        vl.zero_grad();
        backward(fn(ql, kl, vl), gout);
      },
      min_seconds);
  return {fwd, both};
}

// The latent blocks' self-attention (every sample has the same 256 latents), forward only as in
// inference: q, k, v are [B, L, H, Dh] slices of one packed QKV projection and q, k are rotated by
// their latents' angles first. The fused rotary_dense_attention (LatentBlock today) against
// rotating q and k with the rotary op and then dense_attention (the previous build), and against
// the batched composition (heads permuted to [B, H, L, Dh], matmul-softmax-matmul, permuted back)
// and the segmented op on uniform segments. Each timing runs 20 calls and reports one call.
void run_latent_self_attention(const Options& o) {
  const int64_t samples = o.quick ? 8 : 64, latents = 256, heads = 6, dh = 64, n = samples * latents, f = dh / 4;
  const std::vector<int64_t> offsets = [&] {
    std::vector<int64_t> off{0};
    for (int64_t b = 0; b < samples; ++b) off.push_back(off.back() + latents);
    return off;
  }();
  const double fwd_flop = 4.0 * static_cast<double>(samples * latents * latents) * heads * dh;
  std::printf("\nLatent self-attention shape: %lld samples x %lld latents, %lld heads x %lld, q and k rotated "
              "(F = %lld). Forward, no autograd; ms per call over 20 back-to-back calls.\n\n",
              static_cast<long long>(samples), static_cast<long long>(latents), static_cast<long long>(heads),
              static_cast<long long>(dh), static_cast<long long>(f));
  auto by_sample = [&](const Tensor& t) { return reshape(t, {samples, latents, heads, dh}); };
  auto rotate_rows = [&](const Tensor& x, const Tensor& c, const Tensor& s) {
    return by_sample(rotary(reshape(x, {n, heads, dh}), c, s));
  };
  using RotaryQkvFn = std::function<Tensor(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&)>;
  const std::vector<std::pair<std::string, RotaryQkvFn>> paths{
      {"rotary_dense_attention (rotation fused)",
       [&](const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& c, const Tensor& s) {
         return rotary_dense_attention(q, k, v, c, s);
       }},
      {"rotary x2 + dense_attention",
       [&](const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& c, const Tensor& s) {
         return dense_attention(rotate_rows(q, c, s), rotate_rows(k, c, s), v);
       }},
      {"dense_attention alone (no rotation)",
       [&](const Tensor& q, const Tensor& k, const Tensor& v, const Tensor&, const Tensor&) {
         return dense_attention(q, k, v);
       }},
      {"rotary x2 + batched composition",
       [&](const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& c, const Tensor& s) {
         auto heads_first = [](const Tensor& t) { return permute(t, {0, 2, 1, 3}); };
         const Tensor a = scaled_dot_product_attention(heads_first(rotate_rows(q, c, s)),
                                                       heads_first(rotate_rows(k, c, s)), heads_first(v));
         return permute(a, {0, 2, 1, 3});
       }},
      {"rotary x2 + segmented_attention",
       [&](const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& c, const Tensor& s) {
         return segmented_attention(reshape(rotate_rows(q, c, s), {n, heads, dh}), offsets,
                                    reshape(rotate_rows(k, c, s), {n, heads, dh}), reshape(v, {n, heads, dh}),
                                    offsets);
       }},
  };
  Table table({"path", "dtype", "forward ms", "forward TFLOP/s"});
  NoGradGuard no_grad;
  for (DType dtype : {DType::bf16, DType::f16}) {
    Generator gen(9);
    const Tensor packed = normal({n, 3 * heads * dh}, 0, 1, dtype, kGpu, &gen);
    auto slice = [&](int64_t i) { return by_sample(reshape(narrow(packed, 1, i * heads * dh, heads * dh), {n, heads, dh})); };
    const Tensor times = uniform({n}, 0, 1000, DType::f64, kGpu, &gen);
    const Tensor frequencies = uniform({f}, 0.001, 1, DType::f64, kGpu, &gen);
    const auto [cos_rows, sin_rows] = outer_cos_sin(times, frequencies, dtype);  // [N, F]
    const Tensor c = reshape(cos_rows, {n, 1, f}), s = reshape(sin_rows, {n, 1, f});
    for (const auto& [name, fn] : paths) {
      constexpr int kCalls = 20;
      const double ms = wall_ms(
                            [&, fn = fn] {
                              for (int i = 0; i < kCalls; ++i) fn(slice(0), slice(1), slice(2), c, s);
                            },
                            o.min_seconds) /
                        kCalls;
      table.add({name, dtype_name(dtype), fmt("%.4f", ms), fmt("%.2f", fwd_flop / (ms * 1e-3) * 1e-12)});
    }
  }
  table.print();
}

void run_gpu_attention(const Options& o) {
  CORTEX_CHECK(cuda::device_count() > 0, "cortex-bench gpu-attention", "no CUDA device visible");
  const int64_t samples = o.quick ? 8 : 64, latents = 256, heads = 6, dh = 64;
  std::vector<int64_t> q_sizes(static_cast<size_t>(samples), latents), k_sizes;
  for (int64_t b = 0; b < samples; ++b) k_sizes.push_back(500 + (b * 389) % 1001);  // 500..1500
  const auto qo = offsets_of(q_sizes), ko = offsets_of(k_sizes);
  double pairs = 0;  // query-key pairs per head
  for (int64_t b = 0; b < samples; ++b) pairs += static_cast<double>(q_sizes[b] * k_sizes[b]);
  const double fwd_flop = 4.0 * pairs * heads * dh;  // q k^T and P v
  std::printf("Segmented attention, event-encoder shape: %lld samples x %lld latents, %lld events in all "
              "(%.0f per sample), %lld heads x %lld. Wall ms per call (synchronised); TFLOP/s counts the forward's "
              "4 * pairs * H * D (forward + backward: 2.5x that).\n\n",
              static_cast<long long>(samples), static_cast<long long>(latents), static_cast<long long>(ko.back()),
              static_cast<double>(ko.back()) / samples, static_cast<long long>(heads), static_cast<long long>(dh));
  Table table({"path", "dtype", "forward ms", "forward TFLOP/s", "fwd+bwd ms", "fwd+bwd TFLOP/s"});
  const AttentionFn fused = [](const Tensor& q, const std::vector<int64_t>& a, const Tensor& k, const Tensor& v,
                               const std::vector<int64_t>& b) { return segmented_attention(q, a, k, v, b); };
  for (DType dtype : {DType::bf16, DType::f32}) {
    Generator gen(5);
    const Tensor q = normal({qo.back(), heads, dh}, 0, 1, dtype, kGpu, &gen);
    const Tensor k = normal({ko.back(), heads, dh}, 0, 1, dtype, kGpu, &gen);
    const Tensor v = normal({ko.back(), heads, dh}, 0, 1, dtype, kGpu, &gen);
    const Tensor gout = normal({qo.back(), heads, dh}, 0, 1, dtype, kGpu, &gen);
    for (const auto& [name, fn] : std::vector<std::pair<std::string, AttentionFn>>{
             {"fused segmented_attention", fused}, {"per-sample loop (before)", per_sample_loop}}) {
      const QkvFn packed = [&, fn = fn](const Tensor& a, const Tensor& b, const Tensor& c) {
        return fn(a, qo, b, c, ko);
      };
      const auto [fwd, both] = forward_and_backward_ms(packed, q, k, v, gout, o.min_seconds);
      table.add({name, dtype_name(dtype), fmt("%.3f", fwd), fmt("%.2f", fwd_flop / (fwd * 1e-3) * 1e-12),
                 fmt("%.3f", both), fmt("%.2f", 2.5 * fwd_flop / (both * 1e-3) * 1e-12)});
    }
  }
  table.print();
  run_latent_self_attention(o);
}

}  // namespace

CORTEX_BENCH_SECTION("gpu-attention", "Fused segmented attention vs the per-sample loop (Cortex encoder shape)",
                     run_gpu_attention);

}  // namespace cortex::bench
#endif  // CORTEX_WITH_CUDA
