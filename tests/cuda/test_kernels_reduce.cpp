// CUDA reduce and argmax kernels against the CPU kernels: inner, outer and mixed reduced
// dims, few and many outputs, long reductions split over blocks, views, several dtypes.
#include <cmath>

#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

Shape kept_shape(const Shape& shape, const std::vector<int64_t>& dims) {
  Shape s = shape;
  for (int64_t d : dims) s[static_cast<size_t>(d)] = 1;
  return s;
}

struct ReduceCase {
  Shape shape;
  std::vector<int64_t> dims;
};

std::vector<ReduceCase> reduce_cases() {
  std::vector<ReduceCase> cases;
  for (int64_t cols : kKernelCols) {
    cases.push_back({{3, cols}, {1}});     // rows, warp per output
    cases.push_back({{cols, 3}, {0}});     // few outputs, strided reduction
    cases.push_back({{cols, 1500}, {0}});  // column layout (many outputs)
  }
  cases.push_back({{2000, 129}, {1}});     // many rows
  cases.push_back({{5, 70000}, {1}});      // long rows: block per output, split over blocks
  cases.push_back({{123, 457}, {0, 1}});   // everything into one output, split
  cases.push_back({{70000, 3}, {0}});      // long strided reduction
  cases.push_back({{5, 7, 129}, {0, 2}});  // non-adjacent reduced dims
  cases.push_back({{5, 7, 129}, {1}});
  cases.push_back({{4, 6, 8, 10}, {1, 3}});
  return cases;
}

Tensor cpu_reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims) {
  Tensor out = empty(kept_shape(x.shape(), dims), x.dtype());
  reduce_kernel().get(Device::cpu())(op, x, dims, out);
  return out;
}

const char* op_name(ReduceOp op) { return op == ReduceOp::sum ? "sum" : op == ReduceOp::max ? "max" : "min"; }

}  // namespace

CORTEX_GPU_TEST("cuda reduce kernel: sum/max/min over any dims, f32/bf16/f64/i32/i64/bool, views") {
  const DType dtypes[] = {DType::f32, DType::bf16, DType::f64, DType::f16, DType::i32, DType::i64, DType::boolean};
  for (const auto& c : reduce_cases()) {
    int64_t len = 1;
    for (int64_t d : c.dims) len *= c.shape[static_cast<size_t>(d)];
    for (DType dtype : dtypes) {
      Generator g(91 + len);
      const Tensor x = is_floating(dtype) ? random(c.shape, 90 + len, dtype)
                                          : data_to_dtype(randint(c.shape, dtype == DType::boolean ? 0 : -50,
                                                                  dtype == DType::boolean ? 2 : 50, DType::i64,
                                                                  Device::cpu(), &g),
                                                          dtype);
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
        const Tensor expected = cpu_reduce(op, x, c.dims);
        // Sums differ from the f64 CPU accumulation by f32 rounding of ~sqrt(len) terms of size ~1.
        const bool sum = op == ReduceOp::sum && is_floating(dtype);
        const double rtol = sum ? rtol_for(dtype) : 0;
        const double atol = sum ? std::max(atol_for(dtype), 1e-6 * std::sqrt(static_cast<double>(len))) : 0;
        for (Layout l : {Layout::contiguous, Layout::transposed}) {
          const Tensor xg = to_gpu(x, l);
          check_gpu_output([&](const Tensor& out) { reduce_kernel().get(gpu())(op, xg, c.dims, out); }, expected,
                           dtype, Layout::contiguous, rtol, atol,
                           std::string(op_name(op)) + " " + dname(dtype) + " of " + shape_str(c.shape) + " over " +
                               shape_str(c.dims) + " input " + layout_name(l));
        }
      }
    }
  }
}

CORTEX_GPU_TEST("cuda reduce kernel: NaN propagates through max and min; sums are deterministic") {
  Tensor x = random({4, 5000}, 3, DType::f32);
  std::vector<double> v = values(x);
  v[1 * 5000 + 4321] = NAN;
  x = from_vector(v, {4, 5000}, Device::cpu());
  x = data_to_dtype(x, DType::f32);
  for (ReduceOp op : {ReduceOp::max, ReduceOp::min}) {
    check_gpu_output([&](const Tensor& out) { reduce_kernel().get(gpu())(op, to_gpu(x), {1}, out); },
                     cpu_reduce(op, x, {1}), DType::f32, Layout::contiguous, 0, 0, op_name(op));
  }
  const Tensor big = to_gpu(random({3000, 777}, 5, DType::f32));
  Tensor a = empty({1, 1}, DType::f32, gpu()), b = empty({1, 1}, DType::f32, gpu());
  Tensor c = empty({1, 777}, DType::f32, gpu()), d = empty({1, 777}, DType::f32, gpu());
  reduce_kernel().get(gpu())(ReduceOp::sum, big, {0, 1}, a);
  reduce_kernel().get(gpu())(ReduceOp::sum, big, {0, 1}, b);
  reduce_kernel().get(gpu())(ReduceOp::sum, big, {0}, c);
  reduce_kernel().get(gpu())(ReduceOp::sum, big, {0}, d);
  CHECK(values(a) == values(b));
  CHECK(values(c) == values(d));
}

CORTEX_GPU_TEST("cuda argmax kernel: first maximum on ties, any dim, NaN rule of the CPU kernel") {
  for (int64_t cols : kKernelCols) {
    for (DType dtype : {DType::f32, DType::bf16, DType::f64, DType::i32}) {
      // Small integers make ties common.
      const Tensor x = data_to_dtype(random_uniform({6, cols}, 7 + cols, -4, 4), DType::i64);
      const Tensor xd = data_to_dtype(x, dtype);
      for (int64_t dim : {0, 1}) {
        Shape ks = xd.shape();
        ks[static_cast<size_t>(dim)] = 1;
        Tensor expected = empty(ks, DType::i64);
        argmax_kernel().get(Device::cpu())(xd, dim, expected);
        for (Layout l : {Layout::contiguous, Layout::transposed})
          check_gpu_output([&](const Tensor& out) { argmax_kernel().get(gpu())(to_gpu(xd, l), dim, out); }, expected,
                           DType::i64, Layout::contiguous, 0, 0,
                           std::string("argmax ") + dname(dtype) + " cols " + std::to_string(cols) + " dim " +
                               std::to_string(dim) + " " + layout_name(l));
      }
    }
  }
  // NaN first in a row wins; NaN elsewhere never does.
  std::vector<double> v = values(random({3, 3000}, 9));
  v[0] = NAN;
  v[3000 + 1234] = NAN;
  v[2 * 3000 + 2999] = NAN;
  const Tensor x = data_to_dtype(from_vector(v, {3, 3000}), DType::f32);
  Tensor expected = empty({3, 1}, DType::i64);
  argmax_kernel().get(Device::cpu())(x, 1, expected);
  check_gpu_output([&](const Tensor& out) { argmax_kernel().get(gpu())(to_gpu(x), 1, out); }, expected, DType::i64,
                   Layout::contiguous, 0, 0, "argmax with NaN");
}

// Bias gradients: [R, C] over dim 0, the columns layout split over many blocks and combined
// by the parallel finish kernel; odd R, C a multiple of the vector width and not, few and
// many splits. Sums must also repeat bit for bit.
CORTEX_GPU_TEST("cuda reduce kernel: column sums of [R, C] over rows, split and combined") {
  const std::vector<Shape> shapes{{1, 8}, {7, 24}, {4097, 8}, {4097, 33}, {16383, 520}, {2049, 1000}, {2049, 1001},
                                  {4097, 1536}};
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    for (const Shape& shape : shapes) {
      const Tensor x = random(shape, 7 + shape[0] + shape[1], dtype);
      const Tensor xg = to_gpu(x);
      for (ReduceOp op : {ReduceOp::sum, ReduceOp::max, ReduceOp::min}) {
        const bool sum = op == ReduceOp::sum;
        const double rtol = sum ? rtol_for(dtype) : 0;
        const double atol = sum ? std::max(atol_for(dtype), 1e-6 * std::sqrt(static_cast<double>(shape[0]))) : 0;
        check_gpu_output([&](const Tensor& out) { reduce_kernel().get(gpu())(op, xg, {0}, out); },
                         cpu_reduce(op, x, {0}), dtype, Layout::contiguous, rtol, atol,
                         std::string(op_name(op)) + " " + dname(dtype) + " of " + shape_str(shape) + " over rows");
      }
      Tensor a = full({1, shape[1]}, NAN, dtype, gpu()), b = full({1, shape[1]}, NAN, dtype, gpu());
      reduce_kernel().get(gpu())(ReduceOp::sum, xg, {0}, a);
      reduce_kernel().get(gpu())(ReduceOp::sum, xg, {0}, b);
      CHECK(values(a) == values(b));
    }
  }
}
