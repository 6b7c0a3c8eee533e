// CUDA softmax, RMSNorm and LayerNorm kernels (forward and backward) against the CPU
// kernels run in f64 on the same values (the f32 CPU kernels accumulate long rows with more
// rounding error than the GPU's tree sums, so they make a poor reference at 1e-5): awkward
// row lengths across the sub-warp, warp, block and multi-tile layouts, unaligned rows,
// f32/bf16/f16/f64, outputs poisoned first; the weight and bias gradients are checked for
// determinism (two runs, identical bits).
#include <algorithm>
#include <cmath>

#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

const DType kFloatTypes[] = {DType::f32, DType::bf16, DType::f16, DType::f64};

// Row lengths: the awkward ones, a Cortex width, and one longer than a single tile.
std::vector<int64_t> row_lengths() {
  std::vector<int64_t> c = kKernelCols;
  c.push_back(1536);
  c.push_back(20000);
  c.push_back(20001);
  return c;
}

int64_t rows_for(int64_t cols) { return cols >= 4097 ? 5 : cols >= 1000 ? 37 : 300; }

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : values(t)) m = std::max(m, std::abs(v));
  return m;
}

// Element tolerance: relative to the element, plus a floor relative to the largest output
// (sums of many terms cancel, so small outputs carry the absolute error of large ones).
double atol_scaled(const Tensor& expected, DType dtype) { return std::max(atol_for(dtype), rtol_for(dtype) * max_abs(expected)); }

Tensor f64(const Tensor& t) { return data_to_dtype(t, DType::f64); }

// Runs a kernel with several outputs into poisoned GPU tensors and compares each.
void check_outputs(const std::function<void(const std::vector<Tensor>&)>& launch, const std::vector<Tensor>& expected,
                   const std::vector<double>& rtol, const std::vector<double>& atol, const std::string& what) {
  std::vector<Tensor> outs;
  for (const Tensor& e : expected) outs.push_back(full(e.shape(), NAN, e.dtype(), gpu()));
  launch(outs);
  for (size_t i = 0; i < outs.size(); ++i)
    expect_close(outs[i], expected[i], rtol[i], atol[i], what + " output " + std::to_string(i));
}

}  // namespace

CORTEX_GPU_TEST("cuda softmax kernels: forward and backward, log and not, every row length") {
  for (int64_t cols : row_lengths()) {
    const int64_t rows = rows_for(cols);
    for (DType dtype : kFloatTypes) {
      for (bool log : {false, true}) {
        const std::string what = std::string(log ? "log_softmax " : "softmax ") + dname(dtype) + " [" +
                                 std::to_string(rows) + ", " + std::to_string(cols) + "]";
        const Tensor x = random({rows, cols}, 100 + cols, dtype, Device::cpu(), 3.0);
        Tensor y = empty(x.shape(), DType::f64);
        softmax_kernel().get(Device::cpu())(f64(x), y, log);
        const double rtol = rtol_for(dtype);
        check_outputs([&](const std::vector<Tensor>& o) { softmax_kernel().get(gpu())(to_gpu(x), o[0], log); },
                      {data_to_dtype(y, dtype)},
                      {rtol}, {atol_for(dtype) * 1e-2 + rtol * (log ? max_abs(y) : 0)}, what);

        const Tensor gy = random({rows, cols}, 200 + cols, dtype), yd = data_to_dtype(y, dtype);
        Tensor gx = empty(x.shape(), DType::f64);
        softmax_backward_kernel().get(Device::cpu())(f64(yd), f64(gy), gx, log);
        check_outputs(
            [&](const std::vector<Tensor>& o) { softmax_backward_kernel().get(gpu())(to_gpu(yd), to_gpu(gy), o[0], log); },
            {data_to_dtype(gx, dtype)}, {rtol}, {atol_scaled(gx, dtype)}, what + " backward");
      }
    }
  }
  // Unaligned rows (a view starting one element in) take the scalar path.
  const Tensor x = random({9, 256}, 7, DType::bf16);
  Tensor y = empty(x.shape(), DType::bf16);
  softmax_kernel().get(Device::cpu())(x, y, false);
  check_outputs(
      [&](const std::vector<Tensor>& o) {
        Tensor out = gpu_filled(x.shape(), DType::bf16, Layout::misaligned, NAN);
        softmax_kernel().get(gpu())(to_gpu(x, Layout::misaligned), out, false);
        copy_(o[0], out);
      },
      {y}, {1e-2}, {1e-3}, "softmax on misaligned rows");
}

CORTEX_GPU_TEST("cuda rms_norm kernels: forward and backward, every row length, deterministic weight gradient") {
  for (int64_t cols : row_lengths()) {
    const int64_t rows = rows_for(cols);
    for (DType dtype : kFloatTypes) {
      const std::string what = std::string("rms_norm ") + dname(dtype) + " [" + std::to_string(rows) + ", " +
                               std::to_string(cols) + "]";
      const Tensor x = random({rows, cols}, 300 + cols, dtype, Device::cpu(), 2.0);
      const Tensor w = random({cols}, 301 + cols, dtype);
      const double eps = 1e-5;
      Tensor y = empty(x.shape(), DType::f64), rstd = empty({rows}, DType::f32);
      rmsnorm_kernel().get(Device::cpu())(f64(x), f64(w), eps, y, rstd);
      const double rtol = rtol_for(dtype);
      check_outputs([&](const std::vector<Tensor>& o) { rmsnorm_kernel().get(gpu())(to_gpu(x), to_gpu(w), eps, o[0], o[1]); },
                    {data_to_dtype(y, dtype), rstd}, {rtol, 1e-5}, {atol_scaled(y, dtype), 1e-6}, what);

      const Tensor gy = random({rows, cols}, 302 + cols, dtype);
      Tensor gx = empty(x.shape(), DType::f64), gw = empty({cols}, DType::f64);
      rmsnorm_backward_kernel().get(Device::cpu())(f64(x), f64(w), rstd, f64(gy), gx, gw);
      const Tensor xg = to_gpu(x), wg = to_gpu(w), rg = to_gpu(rstd), gyg = to_gpu(gy);
      check_outputs([&](const std::vector<Tensor>& o) { rmsnorm_backward_kernel().get(gpu())(xg, wg, rg, gyg, o[0], o[1]); },
                    {data_to_dtype(gx, dtype), data_to_dtype(gw, dtype)}, {rtol, rtol},
                    {atol_scaled(gx, dtype), atol_scaled(gw, dtype)}, what + " backward");
      if (dtype == DType::f32) {
        Tensor gx1 = empty(x.shape(), dtype, gpu()), gw1 = empty({cols}, dtype, gpu());
        Tensor gx2 = empty(x.shape(), dtype, gpu()), gw2 = empty({cols}, dtype, gpu());
        rmsnorm_backward_kernel().get(gpu())(xg, wg, rg, gyg, gx1, gw1);
        rmsnorm_backward_kernel().get(gpu())(xg, wg, rg, gyg, gx2, gw2);
        CHECK_MESSAGE(values(gw1) == values(gw2), what, ": weight gradient differs between runs");
        CHECK_MESSAGE(values(gx1) == values(gx2), what, ": input gradient differs between runs");
      }
    }
  }
}

CORTEX_GPU_TEST("cuda layer_norm kernels: forward and backward, every row length, deterministic gradients") {
  for (int64_t cols : row_lengths()) {
    const int64_t rows = rows_for(cols);
    for (DType dtype : kFloatTypes) {
      const std::string what = std::string("layer_norm ") + dname(dtype) + " [" + std::to_string(rows) + ", " +
                               std::to_string(cols) + "]";
      // An offset mean makes the centred variance matter.
      const Tensor x = data_to_dtype(add(random({rows, cols}, 400 + cols, DType::f64, Device::cpu(), 2.0), 3.0), dtype);
      const Tensor w = random({cols}, 401 + cols, dtype), b = random({cols}, 402 + cols, dtype);
      const double eps = 1e-5;
      Tensor y = empty(x.shape(), DType::f64), mean = empty({rows}, DType::f32), rstd = empty({rows}, DType::f32);
      layernorm_kernel().get(Device::cpu())(f64(x), f64(w), f64(b), eps, y, mean, rstd);
      const double rtol = rtol_for(dtype);
      check_outputs(
          [&](const std::vector<Tensor>& o) {
            layernorm_kernel().get(gpu())(to_gpu(x), to_gpu(w), to_gpu(b), eps, o[0], o[1], o[2]);
          },
          {data_to_dtype(y, dtype), mean, rstd}, {rtol, 1e-5, 1e-5}, {atol_scaled(y, dtype), 1e-6, 1e-6}, what);

      const Tensor gy = random({rows, cols}, 403 + cols, dtype);
      Tensor gx = empty(x.shape(), DType::f64), gw = empty({cols}, DType::f64), gb = empty({cols}, DType::f64);
      layernorm_backward_kernel().get(Device::cpu())(f64(x), f64(w), mean, rstd, f64(gy), gx, gw, gb);
      const Tensor xg = to_gpu(x), wg = to_gpu(w), mg = to_gpu(mean), rg = to_gpu(rstd), gyg = to_gpu(gy);
      check_outputs(
          [&](const std::vector<Tensor>& o) {
            layernorm_backward_kernel().get(gpu())(xg, wg, mg, rg, gyg, o[0], o[1], o[2]);
          },
          {data_to_dtype(gx, dtype), data_to_dtype(gw, dtype), data_to_dtype(gb, dtype)}, {rtol, rtol, rtol},
          {atol_scaled(gx, dtype), atol_scaled(gw, dtype), atol_scaled(gb, dtype)}, what + " backward");
      if (dtype == DType::f32) {
        std::vector<Tensor> first, second;
        for (auto* run : {&first, &second}) {
          *run = {empty(x.shape(), dtype, gpu()), empty({cols}, dtype, gpu()), empty({cols}, dtype, gpu())};
          layernorm_backward_kernel().get(gpu())(xg, wg, mg, rg, gyg, (*run)[0], (*run)[1], (*run)[2]);
        }
        for (size_t i = 0; i < 3; ++i)
          CHECK_MESSAGE(values(first[i]) == values(second[i]), what, ": output ", i, " differs between runs");
      }
    }
  }
}
