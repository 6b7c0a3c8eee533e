// CUDA segmented attention (forward and both backward kernels) against the CPU kernels run in
// f64 on the same values: Cortex encoder sizes (128 latents against 0 / 1 / 513 / 2049 / 77
// events), odd head dims on every head-dim template (32 / 64 / 128), samples without queries
// or keys, more samples than one launch's parameter block holds, f32 / bf16 / f16, outputs
// poisoned with NaN first. Then the op through autograd on the GPU (non-contiguous and
// misaligned inputs, the scalar-load path) against the CPU op, determinism, and GPU-only errors.
// The device-offset variant: against the f64 CPU kernel with NaN rows past the last offset,
// bad offsets clamped as on the CPU, and one captured CUDA graph replayed with new packings;
// its 16-bit cases with >= 32 queries a sample run on the flash kernel of dense_attention.cu
// (key counts around its 64-key tiles, partial query tiles, samples without keys).
//
// Tolerances: the GPU works in f32 throughout, the reference in f64. For f32 the error is the
// f32 rounding of sums of up to 2049 (forward, gq) or 128 (gk, gv) O(1) terms, ~1e-6 of the
// largest element: rtol 1e-5 with an absolute floor of 1e-5 x the largest |value| leaves a
// 10x margin without letting a wrong key or a missing rescale through (those are O(1) off).
// 16-bit results carry their own output rounding (bf16 2^-9, f16 2^-12 relative): 1e-2 and 2e-3.
#include <algorithm>
#include <cmath>
#include <sstream>
#include <tuple>
#include <utility>

#include "autograd/grad_mode.h"
#include "tests/cuda/test_kernels_util.h"
#ifdef CORTEX_WITH_CUDA
#include "cuda/graph.h"
#include "cuda/kernels/dense_attention_segmented.h"
#endif

using namespace cortex;
using namespace cortex::test;

namespace {

struct SegCase {
  std::vector<int64_t> q_sizes, k_sizes;
  int64_t heads, d;
};

std::vector<int64_t> offsets_of(const std::vector<int64_t>& sizes) {
  std::vector<int64_t> off{0};
  for (int64_t n : sizes) off.push_back(off.back() + n);
  return off;
}

std::vector<SegCase> cases() {
  std::vector<SegCase> c{
      {{128, 128, 128, 128, 128}, {0, 1, 513, 2049, 77}, 3, 64},  // the event encoder
      {{3, 0, 17, 1}, {5, 7, 0, 37}, 2, 5},                       // odd D, empty samples
      {{33, 65}, {300, 1}, 2, 96},                                // D between templates
      {{1, 2, 3}, {129, 64, 31}, 1, 128},
      {{129, 4}, {40, 300}, 2, 32},
      {{4, 4}, {256, 256}, 6, 64},                                // the query decoder
      {{0, 0}, {3, 4}, 2, 8},                                     // no queries at all
      {{3, 2}, {0, 0}, 2, 8},                                     // no keys at all
  };
  // More samples than one launch takes (384): chunked launches.
  SegCase many{{}, {}, 1, 16};
  for (int b = 0; b < 400; ++b) {
    many.q_sizes.push_back(b % 3);
    many.k_sizes.push_back((b * 7) % 6);
  }
  c.push_back(many);
  return c;
}

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : values(t)) m = std::max(m, std::abs(v));
  return m;
}

double rtol_of(DType t) { return t == DType::f32 ? 1e-5 : rtol_for(t); }
double atol_of(const Tensor& expected, DType t) { return std::max(atol_for(t), rtol_of(t) * max_abs(expected)); }

Tensor f64(const Tensor& t) { return data_to_dtype(t, DType::f64); }

std::string describe(const SegCase& c, DType dtype) {
  std::ostringstream s;
  s << dtype_name(dtype) << " B=" << c.q_sizes.size() << " H=" << c.heads << " D=" << c.d;
  return s.str();
}

Tensor poisoned(const Shape& shape, DType dtype) { return full(shape, NAN, dtype, gpu()); }

}  // namespace

CORTEX_GPU_TEST("cuda segmented attention kernels: forward and backward against the f64 CPU kernels") {
  uint64_t seed = 1;
  for (const SegCase& c : cases())
    for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
      const std::string what = describe(c, dtype);
      INFO(what);
      const auto qo = offsets_of(c.q_sizes), ko = offsets_of(c.k_sizes);
      const int64_t nq = qo.back(), nk = ko.back();
      const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));
      const Tensor q = random({nq, c.heads, c.d}, seed++, dtype), k = random({nk, c.heads, c.d}, seed++, dtype);
      const Tensor v = random({nk, c.heads, c.d}, seed++, dtype), gout = random({nq, c.heads, c.d}, seed++, dtype);

      Tensor out64 = empty({nq, c.heads, c.d}, DType::f64), lse64 = empty({nq, c.heads}, DType::f64);
      const auto& cpu_fwd = segmented_attention_kernel().get(Device::cpu());
      if (nq > 0) cpu_fwd(f64(q), qo, f64(k), f64(v), ko, scale, out64, lse64);
      // The backward reference sees the forward output rounded to the dtype, as the GPU does.
      const Tensor out_rounded = data_to_dtype(out64, dtype);
      Tensor gq64 = empty(q.shape(), DType::f64), gk64 = empty(k.shape(), DType::f64);
      Tensor gv64 = empty(k.shape(), DType::f64);
      segmented_attention_backward_kernel().get(Device::cpu())(f64(q), qo, f64(k), f64(v), ko, scale,
                                                               f64(out_rounded), lse64, f64(gout), gq64, gk64, gv64);

      const Tensor qg = to_gpu(q), kg = to_gpu(k), vg = to_gpu(v), gg = to_gpu(gout);
      Tensor out = poisoned(q.shape(), dtype), lse = poisoned({nq, c.heads}, DType::f32);
      if (nq > 0) segmented_attention_kernel().get(gpu())(qg, qo, kg, vg, ko, scale, out, lse);
      expect_close(out, data_to_dtype(out64, dtype), rtol_of(dtype), atol_of(out64, dtype), what + " out");
      expect_close(lse, data_to_dtype(lse64, DType::f32), 1e-5, 1e-5, what + " lse");

      Tensor gq = poisoned(q.shape(), dtype), gk = poisoned(k.shape(), dtype), gv = poisoned(k.shape(), dtype);
      const auto& gpu_bwd = segmented_attention_backward_kernel().get(gpu());
      gpu_bwd(qg, qo, kg, vg, ko, scale, to_gpu(out_rounded), lse, gg, gq, gk, gv);
      expect_close(gq, data_to_dtype(gq64, dtype), rtol_of(dtype), atol_of(gq64, dtype), what + " gq");
      expect_close(gk, data_to_dtype(gk64, dtype), rtol_of(dtype), atol_of(gk64, dtype), what + " gk");
      expect_close(gv, data_to_dtype(gv64, dtype), rtol_of(dtype), atol_of(gv64, dtype), what + " gv");

      // Deterministic: a second backward gives the same bits.
      Tensor gq2 = poisoned(q.shape(), dtype), gk2 = poisoned(k.shape(), dtype), gv2 = poisoned(k.shape(), dtype);
      gpu_bwd(qg, qo, kg, vg, ko, scale, to_gpu(out_rounded), lse, gg, gq2, gk2, gv2);
      CHECK(values(gq2) == values(gq));
      CHECK(values(gk2) == values(gk));
      CHECK(values(gv2) == values(gv));
    }
}

CORTEX_GPU_TEST("cuda segmented_attention op: autograd on the GPU matches the CPU op, any layout") {
  const SegCase c{{5, 0, 9, 2}, {33, 4, 0, 70}, 3, 64};
  const auto qo = offsets_of(c.q_sizes), ko = offsets_of(c.k_sizes);
  const int64_t nq = qo.back(), nk = ko.back();
  for (DType dtype : {DType::f32, DType::bf16})
    for (Layout layout : kLayouts) {
      INFO(dname(dtype), " inputs ", layout_name(layout));
      const Tensor q = random({nq, c.heads, c.d}, 31, dtype), k = random({nk, c.heads, c.d}, 32, dtype);
      const Tensor v = random({nk, c.heads, c.d}, 33, dtype), w = random({nq, c.heads, c.d}, 34, dtype);
      auto run = [&](const Tensor& q0, const Tensor& k0, const Tensor& v0, const Tensor& w0) {
        Tensor a = q0.detach(), b = k0.detach(), e = v0.detach();
        a.set_requires_grad();
        b.set_requires_grad();
        e.set_requires_grad();
        const Tensor out = segmented_attention(a, qo, b, e, ko);
        backward(sum(mul(out, w0)));
        return std::vector<Tensor>{out.detach(), a.grad(), b.grad(), e.grad()};
      };
      const auto want = run(f64(q), f64(k), f64(v), f64(w));
      const auto got = run(to_gpu(q, layout), to_gpu(k, layout), to_gpu(v, layout), to_gpu(w));
      const char* names[] = {"out", "gq", "gk", "gv"};
      for (int i = 0; i < 4; ++i) {
        CHECK(got[i].device() == gpu());
        expect_close(got[i], data_to_dtype(want[i], dtype), rtol_of(dtype), 3 * atol_of(want[i], dtype), names[i]);
      }
    }
}

CORTEX_GPU_TEST("cuda segmented_attention rejects what the kernels cannot do") {
  const std::vector<int64_t> off{0, 2, 3};
  auto throws = [](const std::function<void()>& f, const char* text) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(text), cortex::Error);
  };
  const Tensor big = to_gpu(random({3, 1, 129}, 1, DType::f32));
  throws([&] { segmented_attention(big, off, big, big, off); }, "head dims up to 128");
  const Tensor d64 = to_gpu(random({3, 1, 8}, 2, DType::f64));
  throws([&] { segmented_attention(d64, off, d64, d64, off); }, "f64 is CPU only");
  const Tensor g = to_gpu(random({3, 1, 8}, 3, DType::f32)), c = random({3, 1, 8}, 3, DType::f32);
  throws([&] { segmented_attention(g, off, c, g, off); }, "on different devices");
}

// ---- the device-offset variant (serving graphs) ----

namespace {

struct DeviceOffsetCase {
  std::vector<int64_t> key_sizes;
  int64_t per_sample, capacity, heads, d;
  bool flash;  // in bf16 / f16 the flash kernel runs it (>= 32 queries a sample, D 32 / 64 / 128)
};

// Cortex-S's encoder (256 latents, 6 heads of 64) and awkward shapes on every head-dim template.
const std::vector<DeviceOffsetCase> kDeviceOffsetCases{
    {{0, 1, 513, 77}, 256, 1024, 6, 64, true},
    {{3, 0, 17, 1, 0}, 3, 33, 2, 5, false},
    {{129, 64}, 33, 200, 1, 128, true},
    {{40}, 129, 41, 2, 96, false},  // many queries, but a head dim the flash kernel lacks
    {{0, 0, 0}, 17, 8, 3, 32, false},
    {{65, 300, 63, 1, 0, 128}, 64, 700, 4, 32, true},
    {{200, 7, 64}, 100, 400, 2, 128, true},
    {{1000, 3}, 32, 1100, 3, 64, true},
};

std::vector<int64_t> offsets_from(const std::vector<int64_t>& sizes, int64_t first = 0) {
  std::vector<int64_t> off{first};
  for (int64_t n : sizes) off.push_back(off.back() + n);
  return off;
}

// k or v of `capacity` rows: random where the offsets point, NaN past the end.
Tensor capacity_buffer(int64_t capacity, int64_t used, int64_t heads, int64_t d, uint64_t seed, DType dtype) {
  Tensor t = full({capacity, heads, d}, NAN, dtype);
  if (used > 0) copy_(narrow(t, 0, 0, used), random({used, heads, d}, seed, dtype, Device::cpu(), 1.5));
  return t;
}

}  // namespace

CORTEX_GPU_TEST("cuda segmented attention with device offsets: against the f64 CPU kernel, NaN past the end") {
  uint64_t seed = 500;
  for (const DeviceOffsetCase& c : kDeviceOffsetCases)
    for (DType dtype : {DType::f32, DType::bf16, DType::f16})
      for (DType offset_dtype : {DType::i32, DType::i64}) {
        const int64_t samples = static_cast<int64_t>(c.key_sizes.size());
        std::ostringstream what;
        what << dtype_name(dtype) << " offsets " << dtype_name(offset_dtype) << " B=" << samples << " Lq="
             << c.per_sample << " cap=" << c.capacity << " H=" << c.heads << " D=" << c.d;
        INFO(what.str());
        const auto ko = offsets_from(c.key_sizes);
        const Tensor q = random({samples * c.per_sample, c.heads, c.d}, seed++, dtype);
        const Tensor k = capacity_buffer(c.capacity, ko.back(), c.heads, c.d, seed++, dtype);
        const Tensor v = capacity_buffer(c.capacity, ko.back(), c.heads, c.d, seed++, dtype);
        const Tensor offsets = data_to_dtype(from_vector(ko, {samples + 1}), offset_dtype);
        const double scale = 1.0 / std::sqrt(static_cast<double>(c.d));

        Tensor out64 = empty(q.shape(), DType::f64);
        segmented_attention_device_offsets_kernel().get(Device::cpu())(f64(q), f64(k), f64(v), offsets, scale, out64);
        Tensor out = poisoned(q.shape(), dtype);
#ifdef CORTEX_WITH_CUDA
        CHECK(cuda::flash_segmented_fits(to_gpu(q), to_gpu(k), to_gpu(v), to_gpu(offsets), out) ==
              (c.flash && dtype != DType::f32));
#endif
        segmented_attention_device_offsets_kernel().get(gpu())(to_gpu(q), to_gpu(k), to_gpu(v), to_gpu(offsets),
                                                               scale, out);
        expect_close(out, data_to_dtype(out64, dtype), rtol_of(dtype), atol_of(out64, dtype), what.str());
        // The op on the GPU gives the kernel's bits (and the host-offset op's values).
        const Tensor via_op = segmented_attention_device_offsets(to_gpu(q), to_gpu(k), to_gpu(v), to_gpu(offsets));
        CHECK(values(via_op) == values(out));
      }
}

CORTEX_GPU_TEST("cuda segmented attention with device offsets: bad offsets are clamped as on the CPU") {
  // Past the capacity, negative, decreasing: both kernels read only rows inside k and agree.
  // f32 with 5 queries a sample (segmented kernel), bf16 with 40 of head dim 32 (flash kernel).
  for (const auto& [dtype, per_sample, d] : {std::tuple{DType::f32, 5, 16}, std::tuple{DType::bf16, 40, 32}}) {
    const Tensor q = random({3 * per_sample, 2, d}, 601, dtype);
    const Tensor k = random({20, 2, d}, 602, dtype), v = random({20, 2, d}, 603, dtype);
    for (const std::vector<int64_t>& ko : {std::vector<int64_t>{-4, 6, 30, 40}, std::vector<int64_t>{10, 3, 3, 25},
                                            std::vector<int64_t>{0, 20, 20, 20}}) {
      INFO(dtype_name(dtype), " offsets ", ko[0], " ", ko[1], " ", ko[2], " ", ko[3]);
      const Tensor offsets = from_vector(ko, {4});
      Tensor want = empty(q.shape(), DType::f64);
      segmented_attention_device_offsets_kernel().get(Device::cpu())(f64(q), f64(k), f64(v), offsets, 0.25, want);
      Tensor got = poisoned(q.shape(), dtype);
      segmented_attention_device_offsets_kernel().get(gpu())(to_gpu(q), to_gpu(k), to_gpu(v), to_gpu(offsets), 0.25,
                                                             got);
      expect_close(got, data_to_dtype(want, dtype), rtol_of(dtype), atol_of(want, dtype), "clamped");
    }
  }
}

#ifdef CORTEX_WITH_CUDA
CORTEX_GPU_TEST("cuda segmented attention with device offsets: the flash kernel takes the serving encoder's shapes") {
  // Cortex-S in bf16: 256 latents a sample, 6 heads of 64; not the head's one query a sample, not f32.
  auto fits = [](const Shape& q_shape, const Shape& k_shape, DType dtype, DType offset_dtype = DType::i32) {
    const Tensor q = zeros(q_shape, dtype, gpu()), k = zeros(k_shape, dtype, gpu());
    return cuda::flash_segmented_fits(q, k, k, zeros({5}, offset_dtype, gpu()), zeros(q_shape, dtype, gpu()));
  };
  CHECK(fits({4 * 256, 6, 64}, {900, 6, 64}, DType::bf16));
  CHECK(fits({4 * 256, 6, 64}, {900, 6, 64}, DType::f16, DType::i64));
  CHECK_FALSE(fits({4, 6, 64}, {900, 6, 64}, DType::bf16));           // the head: one query a sample
  CHECK_FALSE(fits({4 * 256, 6, 64}, {900, 6, 64}, DType::f32));      // f32
  CHECK_FALSE(fits({4 * 256, 6, 48}, {900, 6, 48}, DType::bf16));     // head dim 48
  CHECK_FALSE(fits({4 * 256, 6, 64}, {900, 6, 64}, DType::bf16, DType::f32));  // float offsets
  // An output that is not contiguous [B * Lq, H, D] of the same dtype goes to the segmented kernel.
  const Tensor q = zeros({4 * 256, 6, 64}, DType::bf16, gpu()), k = zeros({900, 6, 64}, DType::bf16, gpu());
  const Tensor offsets = zeros({5}, DType::i32, gpu());
  CHECK_FALSE(cuda::flash_segmented_fits(q, k, k, offsets, zeros({4 * 256, 6, 64}, DType::f16, gpu())));
  CHECK_FALSE(cuda::flash_segmented_fits(q, k, k, offsets, narrow(zeros({4 * 256, 6, 65}, DType::bf16, gpu()), 2, 0, 64)));
}

namespace {

// One graph captured on zeroed static buffers, replayed after copying in each packing.
void check_graph_replays(DType dtype, int64_t per_sample) {
  NoGradGuard no_grad;
  const int64_t samples = 4, capacity = 300, heads = 3, d = 64;
  const Tensor q_static = to_gpu(random({samples * per_sample, heads, d}, 700, dtype));
  const Tensor k_static = zeros({capacity, heads, d}, dtype, gpu());
  const Tensor v_static = zeros({capacity, heads, d}, dtype, gpu());
  const Tensor offsets_static = zeros({samples + 1}, DType::i64, gpu());
  Tensor out_static;
  cuda::Graph graph;
  graph.capture([&] { out_static = segmented_attention_device_offsets(q_static, k_static, v_static, offsets_static); });
  uint64_t seed = 710;
  for (const std::vector<int64_t>& sizes : {std::vector<int64_t>{3, 0, 100, 5}, std::vector<int64_t>{0, 0, 0, 0},
                                            std::vector<int64_t>{300, 0, 0, 0}, std::vector<int64_t>{1, 2, 3, 4}}) {
    const auto ko = offsets_from(sizes);
    INFO(dtype_name(dtype), " keys used ", ko.back());
    const Tensor k = capacity_buffer(capacity, ko.back(), heads, d, seed++, dtype);
    const Tensor v = capacity_buffer(capacity, ko.back(), heads, d, seed++, dtype);
    copy_(k_static, k);
    copy_(v_static, v);
    copy_(offsets_static, from_vector(ko, {samples + 1}));
    fill_(out_static, NAN);
    graph.replay();
    Tensor want = empty(q_static.shape(), DType::f64);
    segmented_attention_device_offsets_kernel().get(Device::cpu())(f64(data_to_device(q_static, Device::cpu())),
                                                                   f64(k), f64(v), from_vector(ko, {samples + 1}),
                                                                   1.0 / 8.0, want);
    expect_close(out_static, data_to_dtype(want, dtype), rtol_of(dtype), atol_of(want, dtype), "replay");
  }
}

}  // namespace

CORTEX_GPU_TEST("cuda segmented attention with device offsets: one captured graph replays new packings") {
  check_graph_replays(DType::f32, 7);    // the segmented kernel
  check_graph_replays(DType::bf16, 40);  // the flash kernel
}
#endif  // CORTEX_WITH_CUDA
