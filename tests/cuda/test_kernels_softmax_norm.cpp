// CUDA softmax, RMSNorm and LayerNorm kernels (forward and backward) against the CPU
// kernels run in f64 on the same values (the f32 CPU kernels accumulate long rows with more
// rounding error than the GPU's tree sums, so they make a poor reference at 1e-5): row
// lengths on both sides of every layout switch of cuda/kernels/row_kernel.cuh (sub-warp,
// warp, multi-warp and multi-tile groups, for the forward tiles of 64 bytes a thread and
// the backward tiles of 32 bytes an input), lengths that are not a multiple of the vector
// width, unaligned rows, enough rows that the weight-gradient blocks walk several rows each,
// no rows at all, f32/bf16/f16/f64, outputs poisoned first; the weight and bias gradients
// are checked for determinism (two runs, identical bits).
#include <algorithm>
#include <cmath>

#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

const DType kFloatTypes[] = {DType::f32, DType::bf16, DType::f16, DType::f64};

// Row lengths: the awkward ones, Cortex widths, and each side of the layout switches. With
// 16-byte vectors a thread holds 4 vectors in the forward kernels (a warp covers 512 f32 /
// 1024 bf16 columns, one tile of 512 threads 8192 / 16384) and 2 in the backward ones (a
// warp 256 / 512; a tile of 256 threads in the norms 2048 / 4096, of 512 in softmax 4096 /
// 8192). Lengths not a multiple of 8 (or misaligned rows) take the element-wise path, whose
// threads hold 8 elements forward (a warp 256, a tile 4096) and 4 backward (a tile of 256
// threads 1024, of 512 threads 2048): the odd lengths from 255 on straddle those.
std::vector<int64_t> row_lengths() {
  std::vector<int64_t> c = kKernelCols;
  for (int64_t n : {192, 256, 264, 512, 520, 1024, 1032, 1536, 2048, 2056, 4096, 4104, 8192, 8200, 16384, 16392, 20000,
                    20001, 255, 257, 1023, 1025, 2047, 2049, 4095})
    c.push_back(n);
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

// Runs a kernel with several outputs twice and checks that the runs agree bit for bit.
void check_deterministic(const std::function<void(const std::vector<Tensor>&)>& launch, const std::vector<Shape>& shapes,
                         DType dtype, const std::string& what) {
  std::vector<Tensor> first, second;
  for (auto* run : {&first, &second}) {
    for (const Shape& s : shapes) run->push_back(empty(s, dtype, gpu()));
    launch(*run);
  }
  for (size_t i = 0; i < shapes.size(); ++i)
    CHECK_MESSAGE(values(first[i]) == values(second[i]), what, ": output ", i, " differs between runs");
}

std::string describe(const char* op, DType dtype, int64_t rows, int64_t cols, Layout layout) {
  return std::string(op) + " " + dname(dtype) + " [" + std::to_string(rows) + ", " + std::to_string(cols) + "]" +
         (layout == Layout::contiguous ? "" : std::string(" inputs ") + layout_name(layout));
}

// Softmax (or log-softmax) forward and backward on [rows, cols]; inputs in `layout`
// (contiguous or misaligned).
void check_softmax(int64_t rows, int64_t cols, DType dtype, bool log, Layout layout = Layout::contiguous) {
  const std::string what = describe(log ? "log_softmax" : "softmax", dtype, rows, cols, layout);
  const Tensor x = random({rows, cols}, 100 + cols, dtype, Device::cpu(), 3.0);
  Tensor y = empty(x.shape(), DType::f64);
  softmax_kernel().get(Device::cpu())(f64(x), y, log);
  const double rtol = rtol_for(dtype);
  check_outputs([&](const std::vector<Tensor>& o) { softmax_kernel().get(gpu())(to_gpu(x, layout), o[0], log); },
                {data_to_dtype(y, dtype)}, {rtol}, {atol_for(dtype) * 1e-2 + rtol * (log ? max_abs(y) : 0)}, what);

  const Tensor gy = random({rows, cols}, 200 + cols, dtype), yd = data_to_dtype(y, dtype);
  Tensor gx = empty(x.shape(), DType::f64);
  softmax_backward_kernel().get(Device::cpu())(f64(yd), f64(gy), gx, log);
  check_outputs(
      [&](const std::vector<Tensor>& o) {
        softmax_backward_kernel().get(gpu())(to_gpu(yd, layout), to_gpu(gy, layout), o[0], log);
      },
      {data_to_dtype(gx, dtype)}, {rtol}, {atol_scaled(gx, dtype)}, what + " backward");
}

// RMSNorm forward and backward on [rows, cols]; x and gy in `layout`.
void check_rmsnorm(int64_t rows, int64_t cols, DType dtype, Layout layout = Layout::contiguous) {
  const std::string what = describe("rms_norm", dtype, rows, cols, layout);
  const Tensor x = random({rows, cols}, 300 + cols, dtype, Device::cpu(), 2.0);
  const Tensor w = random({cols}, 301 + cols, dtype);
  const double eps = 1e-5;
  Tensor y = empty(x.shape(), DType::f64), rstd = empty({rows}, DType::f32);
  rmsnorm_kernel().get(Device::cpu())(f64(x), f64(w), eps, y, rstd);
  const double rtol = rtol_for(dtype);
  const Tensor xg = to_gpu(x, layout), wg = to_gpu(w);
  check_outputs([&](const std::vector<Tensor>& o) { rmsnorm_kernel().get(gpu())(xg, wg, eps, o[0], o[1]); },
                {data_to_dtype(y, dtype), rstd}, {rtol, 1e-5}, {atol_scaled(y, dtype), 1e-6}, what);

  const Tensor gy = random({rows, cols}, 302 + cols, dtype);
  Tensor gx = empty(x.shape(), DType::f64), gw = empty({cols}, DType::f64);
  rmsnorm_backward_kernel().get(Device::cpu())(f64(x), f64(w), rstd, f64(gy), gx, gw);
  const Tensor rg = to_gpu(rstd), gyg = to_gpu(gy, layout);
  const auto backward = [&](const std::vector<Tensor>& o) {
    rmsnorm_backward_kernel().get(gpu())(xg, wg, rg, gyg, o[0], o[1]);
  };
  check_outputs(backward, {data_to_dtype(gx, dtype), data_to_dtype(gw, dtype)}, {rtol, rtol},
                {atol_scaled(gx, dtype), atol_scaled(gw, dtype)}, what + " backward");
  if (dtype == DType::f32 || dtype == DType::bf16) check_deterministic(backward, {x.shape(), {cols}}, dtype, what);
}

// LayerNorm forward and backward on [rows, cols]; x and gy in `layout`.
void check_layernorm(int64_t rows, int64_t cols, DType dtype, Layout layout = Layout::contiguous) {
  const std::string what = describe("layer_norm", dtype, rows, cols, layout);
  // An offset mean makes the centred variance matter.
  const Tensor x = data_to_dtype(add(random({rows, cols}, 400 + cols, DType::f64, Device::cpu(), 2.0), 3.0), dtype);
  const Tensor w = random({cols}, 401 + cols, dtype), b = random({cols}, 402 + cols, dtype);
  const double eps = 1e-5;
  Tensor y = empty(x.shape(), DType::f64), mean = empty({rows}, DType::f32), rstd = empty({rows}, DType::f32);
  layernorm_kernel().get(Device::cpu())(f64(x), f64(w), f64(b), eps, y, mean, rstd);
  const double rtol = rtol_for(dtype);
  const Tensor xg = to_gpu(x, layout), wg = to_gpu(w), bg = to_gpu(b);
  check_outputs([&](const std::vector<Tensor>& o) { layernorm_kernel().get(gpu())(xg, wg, bg, eps, o[0], o[1], o[2]); },
                {data_to_dtype(y, dtype), mean, rstd}, {rtol, 1e-5, 1e-5}, {atol_scaled(y, dtype), 1e-6, 1e-6}, what);

  const Tensor gy = random({rows, cols}, 403 + cols, dtype);
  Tensor gx = empty(x.shape(), DType::f64), gw = empty({cols}, DType::f64), gb = empty({cols}, DType::f64);
  layernorm_backward_kernel().get(Device::cpu())(f64(x), f64(w), mean, rstd, f64(gy), gx, gw, gb);
  const Tensor mg = to_gpu(mean), rg = to_gpu(rstd), gyg = to_gpu(gy, layout);
  const auto backward = [&](const std::vector<Tensor>& o) {
    layernorm_backward_kernel().get(gpu())(xg, wg, mg, rg, gyg, o[0], o[1], o[2]);
  };
  check_outputs(backward, {data_to_dtype(gx, dtype), data_to_dtype(gw, dtype), data_to_dtype(gb, dtype)},
                {rtol, rtol, rtol}, {atol_scaled(gx, dtype), atol_scaled(gw, dtype), atol_scaled(gb, dtype)},
                what + " backward");
  if (dtype == DType::f32 || dtype == DType::bf16)
    check_deterministic(backward, {x.shape(), {cols}, {cols}}, dtype, what);
}

// Shapes whose weight-gradient blocks each walk several rows (a block holds up to 64 rows
// of 4 threads; about three blocks per SM), for each kind of row group.
const std::pair<int64_t, int64_t> kManyRows[] = {{40000, 3}, {6000, 192}, {5000, 512}, {3000, 264}, {1500, 1536}};

}  // namespace

CORTEX_GPU_TEST("cuda softmax kernels: forward and backward, log and not, every row length") {
  for (int64_t cols : row_lengths())
    for (DType dtype : kFloatTypes)
      for (bool log : {false, true}) check_softmax(rows_for(cols), cols, dtype, log);
}

CORTEX_GPU_TEST("cuda rms_norm kernels: forward and backward, every row length, deterministic weight gradient") {
  for (int64_t cols : row_lengths())
    for (DType dtype : kFloatTypes) check_rmsnorm(rows_for(cols), cols, dtype);
}

CORTEX_GPU_TEST("cuda layer_norm kernels: forward and backward, every row length, deterministic gradients") {
  for (int64_t cols : row_lengths())
    for (DType dtype : kFloatTypes) check_layernorm(rows_for(cols), cols, dtype);
}

CORTEX_GPU_TEST("cuda row kernels: misaligned rows take the element-wise path") {
  for (DType dtype : {DType::f32, DType::bf16})
    for (int64_t cols : {256, 1536}) {
      check_softmax(9, cols, dtype, false, Layout::misaligned);
      check_softmax(9, cols, dtype, true, Layout::misaligned);
      check_rmsnorm(9, cols, dtype, Layout::misaligned);
      check_layernorm(9, cols, dtype, Layout::misaligned);
    }
}

CORTEX_GPU_TEST("cuda row kernels: many rows per block, and norms of no rows") {
  for (DType dtype : {DType::f32, DType::bf16})
    for (const auto& [rows, cols] : kManyRows) {
      check_softmax(rows, cols, dtype, false);
      check_rmsnorm(rows, cols, dtype);
      check_layernorm(rows, cols, dtype);
    }
  // No rows: the weight and bias gradients are zero (written, not left poisoned).
  for (DType dtype : {DType::f32, DType::bf16})
    for (int64_t cols : {17, 512, 5000}) {
      const Tensor x = empty({0, cols}, dtype, gpu()), gy = empty({0, cols}, dtype, gpu());
      const Tensor w = to_gpu(random({cols}, 9, dtype)), stat = empty({0}, DType::f32, gpu());
      const Tensor zero = zeros({cols}, dtype);
      check_outputs([&](const std::vector<Tensor>& o) { rmsnorm_backward_kernel().get(gpu())(x, w, stat, gy, o[0], o[1]); },
                    {empty({0, cols}, dtype), zero}, {0, 0}, {0, 0}, describe("rms_norm backward", dtype, 0, cols, Layout::contiguous));
      check_outputs(
          [&](const std::vector<Tensor>& o) { layernorm_backward_kernel().get(gpu())(x, w, stat, stat, gy, o[0], o[1], o[2]); },
          {empty({0, cols}, dtype), zero, zero}, {0, 0, 0}, {0, 0, 0},
          describe("layer_norm backward", dtype, 0, cols, Layout::contiguous));
    }
}
