// CUDA fused_linear_kernel (a cuBLASLt GEMM with a bias / GELU epilogue) against the CPU
// composition on the same rounded values: f32/bf16/f16, awkward sizes, rows narrowed out of a
// wider buffer, with and without bias, output poisoned with NaN. Then the op on the GPU
// recording gradients (the composition) against the CPU.
#include "autograd/backward.h"
#include "ops/fused_linear.h"
#include "ops/reduce.h"
#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

CORTEX_GPU_TEST("cuda fused_linear_kernel matches the CPU composition") {
  for (DType dtype : {DType::f32, DType::bf16, DType::f16})
    for (int64_t m : {1, 17, 129, 1000})
      for (int64_t k : {3, 64, 384})
        for (int64_t n : {5, 384, 1536})
          for (bool with_bias : {false, true})
            for (LinearActivation act : {LinearActivation::none, LinearActivation::gelu}) {
              INFO(dname(dtype), " M=", m, " K=", k, " N=", n, " bias=", with_bias,
                   " gelu=", act == LinearActivation::gelu);
              const Tensor x = random({m, k}, 3 + m + k, dtype, Device::cpu(), 0.5);
              const Tensor w = random({n, k}, 5 + n, dtype, Device::cpu(), 0.5);
              const Tensor b = with_bias ? random({n}, 7 + n, dtype) : Tensor();
              const Tensor want = fused_linear(data_to_dtype(x, DType::f64), data_to_dtype(w, DType::f64),
                                               with_bias ? data_to_dtype(b, DType::f64) : Tensor(), act);
              // x as the first k columns of a wider [m, k + 8] buffer.
              Tensor wide = full({m, k + 8}, 0, dtype, gpu());
              Tensor xg = narrow_data(wide, 1, 0, k);
              copy_(xg, x);
              Tensor out = gpu_filled({m, n}, dtype, Layout::contiguous, NAN);
              fused_linear_kernel().get(gpu())(xg, to_gpu(w), with_bias ? to_gpu(b) : Tensor(), act, Tensor(), out);
              // f32 accumulation over K terms against float64: TF32 stays off in tests.
              const double tol = dtype == DType::f32 ? 1e-4 : rtol_for(dtype) * 2;
              expect_close(out, want, tol, tol);
            }
}

CORTEX_GPU_TEST("cuda fused_linear_kernel adds a residual read from its own buffer") {
  for (DType dtype : {DType::f32, DType::bf16})
    for (int64_t m : {1, 129, 1000}) {
      INFO(dname(dtype), " M=", m);
      const int64_t k = 384, n = 384;
      const Tensor x = random({m, k}, 51 + m, dtype, Device::cpu(), 0.5), w = random({n, k}, 52, dtype, Device::cpu(), 0.5);
      const Tensor b = random({n}, 53, dtype), r = random({m, n}, 54 + m, dtype);
      auto f64 = [](const Tensor& t) { return data_to_dtype(t, DType::f64); };
      const Tensor want = fused_linear(f64(x), f64(w), f64(b), LinearActivation::none, f64(r));
      const Tensor rg = to_gpu(r);
      Tensor out = gpu_filled({m, n}, dtype, Layout::contiguous, NAN);
      fused_linear_kernel().get(gpu())(to_gpu(x), to_gpu(w), to_gpu(b), LinearActivation::none, rg, out);
      const double tol = dtype == DType::f32 ? 1e-4 : rtol_for(dtype) * 2;
      expect_close(out, want, tol, tol);
      CHECK(values(rg) == values(r));  // the residual is read, not written
    }
}

CORTEX_GPU_TEST("fused_linear on the GPU recording gradients matches the CPU") {
  const Tensor x = random({33, 16}, 41, DType::f32), w = random({24, 16}, 42, DType::f32),
               b = random({24}, 43, DType::f32);
  Tensor xc = x.detach(), xg = to_gpu(x).detach();
  xc.set_requires_grad();
  xg.set_requires_grad();
  const Tensor yc = fused_linear(xc, w, b, LinearActivation::gelu);
  const Tensor yg = fused_linear(xg, to_gpu(w), to_gpu(b), LinearActivation::gelu);
  expect_close(yg, yc, 1e-5, 1e-6, "forward");
  cortex::backward(sum(yc));
  cortex::backward(sum(yg));
  expect_close(xg.grad(), xc.grad(), 1e-5, 1e-6, "gx");
}
