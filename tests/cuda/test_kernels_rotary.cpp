// CUDA rotary_kernel against the CPU kernel: f32/bf16/f16/f64, awkward sizes, x contiguous,
// narrowed from a wider buffer (row stride past H * Dh, as a slice of a GEMM output),
// transposed and misaligned; angles broadcast over heads or per head; outputs poisoned with NaN.
// Then the op with its backward on the GPU against the CPU.
#include "autograd/backward.h"
#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

Tensor cpu_rotary(const Tensor& x, const Tensor& c, const Tensor& s, bool inverse) {
  Tensor out = empty(x.shape(), x.dtype());
  rotary_kernel().get(Device::cpu())(x, c, s, inverse, out);
  return out;
}

// x on the GPU as a narrow of [N, H, Dh + 7] starting at channel 3.
Tensor narrowed_gpu(const Tensor& cpu) {
  Tensor wide = full({cpu.size(0), cpu.size(1), cpu.size(2) + 7}, 0, cpu.dtype(), gpu());
  Tensor view = narrow_data(wide, 2, 3, cpu.size(2));
  copy_(view, cpu);
  return view;
}

}  // namespace

CORTEX_GPU_TEST("cuda rotary_kernel matches the CPU kernel on strided inputs") {
  for (int64_t n : {1, 3, 17, 129, 1000})
    for (int64_t h : {1, 3})
      for (int64_t f : {1, 5, 16})
        for (int64_t dh : {2 * f, 4 * f, 4 * f + 3})
          for (DType dtype : {DType::f32, DType::bf16, DType::f16, DType::f64})
            for (bool per_head : {false, true})
              for (bool inverse : {false, true}) {
                INFO("N=", n, " H=", h, " F=", f, " Dh=", dh, " ", dname(dtype), " per_head=", per_head,
                     " inverse=", inverse);
                const Shape angle_shape{n, per_head ? h : 1, f};
                const Tensor x = random({n, h, dh}, 5 + n + dh, dtype);
                const Tensor c = random(angle_shape, 6 + n, dtype), s = random(angle_shape, 7 + f, dtype);
                const Shape full_shape{n, h, f};
                const Tensor want = cpu_rotary(x, broadcast_view(c, full_shape), broadcast_view(s, full_shape), inverse);
                std::vector<std::pair<Tensor, std::string>> xs{{narrowed_gpu(x), "narrowed"}};
                for (Layout layout : kLayouts) xs.emplace_back(to_gpu(x, layout), layout_name(layout));
                for (const auto& [xg, what] : xs)
                  for (Layout angle_layout : {Layout::contiguous, Layout::transposed}) {
                    const Tensor cg = broadcast_view(to_gpu(c, angle_layout), full_shape);
                    const Tensor sg = broadcast_view(to_gpu(s, angle_layout), full_shape);
                    Tensor out = gpu_filled(want.shape(), dtype, Layout::contiguous, NAN);
                    rotary_kernel().get(gpu())(xg, cg, sg, inverse, out);
                    // Products rounded before the sum on both sides: the same bits in f32 and f64.
                    if (dtype == DType::f32 || dtype == DType::f64)
                      CHECK_MESSAGE(values(out) == values(want), what);
                    else
                      expect_close(out, want, rtol_for(dtype), atol_for(dtype), "x " + what);
                  }
              }
}

CORTEX_GPU_TEST("cuda rotary op and its backward match the CPU") {
  const int64_t n = 37, h = 4, f = 8, dh = 4 * f;
  for (DType dtype : {DType::f32, DType::bf16}) {
    INFO(dname(dtype));
    const Tensor x = random({n, h, dh}, 81, dtype), c = random({n, 1, f}, 82, dtype), s = random({n, 1, f}, 83, dtype);
    const Tensor gy = random({n, h, dh}, 84, dtype);
    Tensor x_cpu = x.detach(), x_gpu = to_gpu(x).detach();
    x_cpu.set_requires_grad();
    x_gpu.set_requires_grad();
    const Tensor y_cpu = rotary(x_cpu, c, s, false), y_gpu = rotary(x_gpu, to_gpu(c), to_gpu(s), false);
    expect_close(y_gpu, y_cpu, rtol_for(dtype), atol_for(dtype), "forward");
    cortex::backward(y_cpu, gy);
    cortex::backward(y_gpu, to_gpu(gy));
    expect_close(x_gpu.grad(), x_cpu.grad(), 2 * rtol_for(dtype), 2 * atol_for(dtype), "gx");
  }
}
