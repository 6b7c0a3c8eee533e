// CUDA dense_attention_kernel against the CPU op (float64 on the same rounded inputs): bf16
// and f16, head dims 32/64/128, query and key counts that are not multiples of the 16-row
// MMA tile, the 64-query block or the 64-key tile (the online softmax across tiles), contiguous operands and strided slices of a packed
// projection, outputs poisoned with NaN; with rotary angles, against rotary (CPU, same dtype)
// then attention. Then the op on the GPU where it must fall back to the composition (f32,
// misaligned rows, recording gradients).
#include "autograd/backward.h"
#include "autograd/grad_mode.h"
#include "ops/dense_attention.h"
#include "ops/nn_ops.h"
#include "ops/reduce.h"
#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

Tensor cpu_reference(const Tensor& q, const Tensor& k, const Tensor& v) {
  auto f64 = [](const Tensor& t) { return data_to_dtype(contiguous_copy(t), DType::f64); };
  return dense_attention(f64(q), f64(k), f64(v));
}

// [B, L, H, D] views of one packed [B * L, 3 * H * D] GPU buffer (q, k, v side by side).
std::vector<Tensor> packed_gpu(int64_t batch, int64_t len, int64_t heads, int64_t d, DType dtype, uint64_t seed) {
  const Tensor packed = to_gpu(random({batch * len, 3 * heads * d}, seed, dtype));
  std::vector<Tensor> out;
  for (int64_t i = 0; i < 3; ++i)
    out.push_back(reshape(narrow(packed, 1, i * heads * d, heads * d), {batch, len, heads, d}));
  return out;
}

Tensor map_values(const Tensor& t, double (*fn)(double)) {
  std::vector<double> v = values(t);
  for (double& x : v) x = fn(x);
  return from_vector(v, t.shape());
}
Tensor cos_of(const Tensor& angles) { return map_values(angles, [](double a) { return std::cos(a); }); }
Tensor sin_of(const Tensor& angles) { return map_values(angles, [](double a) { return std::sin(a); }); }

}  // namespace

CORTEX_GPU_TEST("cuda dense_attention_kernel matches the CPU on contiguous operands") {
  for (DType dtype : {DType::bf16, DType::f16})
    for (int64_t d : {32, 64, 128})
      for (int64_t lq : {1, 17, 64, 100})
        for (int64_t lk : {1, 15, 33, 64, 129, 256, 1000}) {  // one, several, partial key tiles
          const int64_t batch = 3, heads = 2;
          INFO(dname(dtype), " D=", d, " Lq=", lq, " Lk=", lk);
          const Tensor q = random({batch, lq, heads, d}, 3 + lq + d, dtype);
          const Tensor k = random({batch, lk, heads, d}, 5 + lk, dtype), v = random({batch, lk, heads, d}, 7 + lk, dtype);
          Tensor out = gpu_filled(q.shape(), dtype, Layout::contiguous, NAN);
          dense_attention_kernel().get(gpu())(to_gpu(q), to_gpu(k), to_gpu(v), Tensor(), Tensor(), 1 / std::sqrt(double(d)),
                                              out);
          expect_close(out, cpu_reference(q, k, v), rtol_for(dtype), atol_for(dtype));
        }
}

CORTEX_GPU_TEST("cuda dense_attention_kernel reads strided slices of a packed projection") {
  for (DType dtype : {DType::bf16, DType::f16})
    for (int64_t len : {7, 64, 256, 300}) {
      const int64_t batch = 5, heads = 6, d = 64;
      INFO(dname(dtype), " L=", len);
      const std::vector<Tensor> qkv = packed_gpu(batch, len, heads, d, dtype, 40 + len);
      CHECK(dense_attention_fused_fits(qkv[0], qkv[1], qkv[2]));
      Tensor out = gpu_filled(qkv[0].shape(), dtype, Layout::contiguous, NAN);
      dense_attention_kernel().get(gpu())(qkv[0], qkv[1], qkv[2], Tensor(), Tensor(), 0.125, out);
      expect_close(out, cpu_reference(to(qkv[0], Device::cpu()), to(qkv[1], Device::cpu()), to(qkv[2], Device::cpu())), rtol_for(dtype),
                   atol_for(dtype));
      // The op takes the same kernel (no gradient recorded) and returns the same values.
      NoGradGuard no_grad;
      CHECK(values(dense_attention(qkv[0], qkv[1], qkv[2])) == values(out));
    }
}

CORTEX_GPU_TEST("cuda dense_attention_kernel rotates q and k by their tokens' angles") {
  for (DType dtype : {DType::bf16, DType::f16})
    for (int64_t d : {32, 64, 128})
      for (int64_t len : {1, 17, 64, 130, 256}) {
        const int64_t batch = 3, heads = 2, f = d / 4;  // nn::TimeRotary's F; channels 2F.. are not rotated
        INFO(dname(dtype), " D=", d, " L=", len);
        const std::vector<Tensor> qkv = packed_gpu(batch, len, heads, d, dtype, 90 + len + d);
        const Tensor angles = random({batch * len, 1, f}, 91 + len, DType::f64);
        const Tensor cos = data_to_dtype(cos_of(angles), dtype), sin = data_to_dtype(sin_of(angles), dtype);
        CHECK(dense_attention_fused_fits(qkv[0], qkv[1], qkv[2], to_gpu(cos), to_gpu(sin)));
        Tensor out = gpu_filled(qkv[0].shape(), dtype, Layout::contiguous, NAN);
        dense_attention_kernel().get(gpu())(qkv[0], qkv[1], qkv[2], reshape(to_gpu(cos), {batch * len, f}),
                                            reshape(to_gpu(sin), {batch * len, f}), 1 / std::sqrt(double(d)), out);
        // The CPU rotates in the same dtype with the same rounding as the kernel.
        auto rotated = [&](const Tensor& x) {
          const Tensor cpu = contiguous_copy(to(x, Device::cpu()));
          return reshape(rotary(reshape(cpu, {batch * len, heads, d}), cos, sin), {batch, len, heads, d});
        };
        expect_close(out, cpu_reference(rotated(qkv[0]), rotated(qkv[1]), to(qkv[2], Device::cpu())), rtol_for(dtype),
                     atol_for(dtype));
        NoGradGuard no_grad;
        CHECK(values(rotary_dense_attention(qkv[0], qkv[1], qkv[2], to_gpu(cos), to_gpu(sin))) == values(out));
      }
}

CORTEX_GPU_TEST("dense_attention on the GPU falls back to the composition where the kernel does not apply") {
  const int64_t batch = 2, len = 19, heads = 3, d = 32;
  // f32: no fused kernel.
  const Tensor q = random({batch, len, heads, d}, 61, DType::f32), k = random({batch, len, heads, d}, 62, DType::f32),
               v = random({batch, len, heads, d}, 63, DType::f32);
  expect_close(dense_attention(to_gpu(q), to_gpu(k), to_gpu(v)), cpu_reference(q, k, v), 1e-5, 1e-6, "f32");
  // bf16 rows misaligned by one element.
  const Tensor qb = data_to_dtype(q, DType::bf16);
  const Tensor qm = to_gpu(qb, Layout::misaligned);
  CHECK_FALSE(dense_attention_fused_fits(qm, qm, qm));
  expect_close(dense_attention(qm, qm, qm), cpu_reference(qb, qb, qb), rtol_for(DType::bf16), atol_for(DType::bf16),
               "misaligned");
  // Recording gradients: the composition, whose backward runs on the GPU.
  Tensor qg = to_gpu(qb).detach();
  qg.set_requires_grad();
  const Tensor y = dense_attention(qg, qg, qg);
  cortex::backward(sum(y));
  CHECK(qg.grad().defined());
}
