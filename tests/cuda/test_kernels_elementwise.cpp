// CUDA unary, binary and where kernels against the CPU kernels: every op, f32/bf16/f16/f64
// and the integer dtypes where the op makes sense, awkward sizes, contiguous, transposed,
// misaligned and broadcast operands, outputs poisoned first.
#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

const DType kFloatTypes[] = {DType::f32, DType::bf16, DType::f16, DType::f64};

struct UnaryCase {
  UnaryOp op;
  const char* name;
  double alpha;
  bool positive;  // domain (0.2, 3): log, sqrt, ...
  bool integer;   // also checked on i32/i64
};

const UnaryCase kUnaryCases[] = {
    {UnaryOp::neg, "neg", 0, false, true},          {UnaryOp::exp, "exp", 0, false, false},
    {UnaryOp::log, "log", 0, true, false},          {UnaryOp::sqrt, "sqrt", 0, true, false},
    {UnaryOp::rsqrt, "rsqrt", 0, true, false},      {UnaryOp::tanh, "tanh", 0, false, false},
    {UnaryOp::sigmoid, "sigmoid", 0, false, false}, {UnaryOp::relu, "relu", 0, false, true},
    {UnaryOp::gelu, "gelu", 0, false, false},       {UnaryOp::silu, "silu", 0, false, false},
    {UnaryOp::abs, "abs", 0, false, true},          {UnaryOp::square, "square", 0, false, true},
    {UnaryOp::reciprocal, "reciprocal", 0, true, false}, {UnaryOp::sign, "sign", 0, false, true},
    {UnaryOp::add_scalar, "add_scalar", 0.75, false, true}, {UnaryOp::mul_scalar, "mul_scalar", -1.5, false, true},
    {UnaryOp::pow_scalar, "pow_scalar", 2.5, true, false}, {UnaryOp::rsub_scalar, "rsub_scalar", 2.0, false, true},
    {UnaryOp::clamp_min, "clamp_min", -0.3, false, true}, {UnaryOp::clamp_max, "clamp_max", 0.4, false, true},
};

Tensor unary_input(const UnaryCase& c, const Shape& shape, uint64_t seed, DType dtype) {
  return c.positive ? random_uniform(shape, seed, 0.2, 3.0, dtype) : random(shape, seed, dtype);
}

Tensor small_ints(const Shape& shape, uint64_t seed, DType dtype, int64_t low = -8, int64_t high = 9) {
  Generator g(seed);
  return data_to_dtype(randint(shape, low, high, DType::i64, Device::cpu(), &g), dtype);
}

Tensor cpu_unary(UnaryOp op, const Tensor& x, double alpha) {
  Tensor out = empty(x.shape(), x.dtype());
  unary_kernel().get(Device::cpu())(op, x, alpha, out);
  return out;
}

Tensor cpu_binary(BinaryOp op, const Tensor& a, const Tensor& b, DType out_dtype) {
  Tensor out = empty(a.shape(), out_dtype);
  binary_kernel().get(Device::cpu())(op, a, b, out);
  return out;
}

// A view of `t` whose dims cannot be merged: each dim padded by one in a larger buffer.
Tensor padded_gpu(const Tensor& cpu) {
  Shape padded = cpu.shape();
  for (auto& s : padded) s += 1;
  Tensor buf = full(padded, 0, cpu.dtype(), gpu());
  Tensor view = buf.view_as_strided(cpu.shape(), buf.strides(), 0);
  copy_(view, cpu);
  return view;
}

struct BinaryCase {
  BinaryOp op;
  const char* name;
  bool integer;  // also checked on integer dtypes
};

const BinaryCase kBinaryCases[] = {
    {BinaryOp::add, "add", true},
    {BinaryOp::sub, "sub", true},
    {BinaryOp::mul, "mul", true},
    {BinaryOp::div, "div", false},
    {BinaryOp::pow, "pow", false},
    {BinaryOp::maximum, "maximum", true},
    {BinaryOp::minimum, "minimum", true},
    {BinaryOp::eq, "eq", true},
    {BinaryOp::ne, "ne", true},
    {BinaryOp::lt, "lt", true},
    {BinaryOp::le, "le", true},
    {BinaryOp::gt, "gt", true},
    {BinaryOp::ge, "ge", true},
    {BinaryOp::relu_backward, "relu_backward", false},
    {BinaryOp::gelu_backward, "gelu_backward", false},
    {BinaryOp::silu_backward, "silu_backward", false},
    {BinaryOp::sigmoid_backward, "sigmoid_backward", false},
    {BinaryOp::tanh_backward, "tanh_backward", false},
};

bool is_comparison(BinaryOp op) { return op >= BinaryOp::eq && op <= BinaryOp::ge; }

// Inputs in each op's domain; comparisons get small integers so that ties occur.
std::pair<Tensor, Tensor> binary_inputs(BinaryOp op, const Shape& sa, const Shape& sb, uint64_t seed, DType dtype) {
  if (is_comparison(op) || !is_floating(dtype)) {
    const bool unsigned_type = dtype == DType::u8 || dtype == DType::boolean;
    const int64_t low = unsigned_type ? 0 : -3, high = dtype == DType::boolean ? 2 : 4;
    return {small_ints(sa, seed, dtype, low, high), small_ints(sb, seed + 1, dtype, low, high)};
  }
  switch (op) {
    case BinaryOp::div: return {random(sa, seed, dtype), random_uniform(sb, seed + 1, 0.5, 2.0, dtype)};
    case BinaryOp::pow: return {random_uniform(sa, seed, 0.2, 3.0, dtype), random(sb, seed + 1, dtype)};
    case BinaryOp::sigmoid_backward: return {random_uniform(sa, seed, 0.01, 0.99, dtype), random(sb, seed + 1, dtype)};
    case BinaryOp::tanh_backward: return {random_uniform(sa, seed, -0.99, 0.99, dtype), random(sb, seed + 1, dtype)};
    default: return {random(sa, seed, dtype), random(sb, seed + 1, dtype)};
  }
}

}  // namespace

CORTEX_GPU_TEST("cuda unary kernel: every op and float dtype, awkward sizes, input and output layouts") {
  for (const auto& c : kUnaryCases) {
    for (DType dtype : kFloatTypes) {
      for (int64_t cols : kKernelCols) {
        const Shape shape{3, cols};
        const Tensor x = unary_input(c, shape, 10 + cols, dtype);
        const Tensor expected = cpu_unary(c.op, x, c.alpha);
        for (Layout in : kLayouts) {
          // Every output layout with contiguous input; contiguous output otherwise.
          for (Layout out_layout : kLayouts) {
            if (in != Layout::contiguous && out_layout != Layout::contiguous) continue;
            const Tensor xg = to_gpu(x, in);
            check_gpu_output([&](const Tensor& out) { unary_kernel().get(gpu())(c.op, xg, c.alpha, out); }, expected,
                             dtype, out_layout, rtol_for(dtype), atol_for(dtype),
                             std::string(c.name) + " " + dname(dtype) + " cols " + std::to_string(cols) + " input " +
                                 layout_name(in));
          }
        }
      }
    }
  }
}

CORTEX_GPU_TEST("cuda unary kernel: integer dtypes and broadcast inputs") {
  for (const auto& c : kUnaryCases) {
    if (!c.integer) continue;
    for (DType dtype : {DType::i32, DType::i64, DType::i8}) {
      for (int64_t cols : {1, 17, 1000}) {
        const Tensor x = small_ints({3, cols}, 5 + cols, dtype);
        check_gpu_output([&](const Tensor& out) { unary_kernel().get(gpu())(c.op, to_gpu(x), c.alpha, out); },
                         cpu_unary(c.op, x, c.alpha), dtype, Layout::contiguous, 0, 0,
                         std::string(c.name) + " " + dname(dtype) + " cols " + std::to_string(cols));
      }
    }
  }
  // A row broadcast down the rows, and a scalar broadcast everywhere.
  for (DType dtype : kFloatTypes) {
    const Tensor row = random({129}, 3, dtype), scalar = random({}, 4, dtype);
    for (const Tensor& small : {row, scalar}) {
      const Tensor x = broadcast_view(small, {5, 129});
      check_gpu_output([&](const Tensor& out) {
                         unary_kernel().get(gpu())(UnaryOp::tanh, broadcast_view(to_gpu(small), {5, 129}), 0, out);
                       },
                       cpu_unary(UnaryOp::tanh, x, 0), dtype, Layout::contiguous, rtol_for(dtype), atol_for(dtype),
                       std::string("tanh of a broadcast ") + dname(dtype));
    }
  }
}

CORTEX_GPU_TEST("cuda binary kernel: every op and float dtype, awkward sizes, layouts and broadcasts") {
  for (const auto& c : kBinaryCases) {
    for (DType dtype : kFloatTypes) {
      const DType out_dtype = is_comparison(c.op) ? DType::boolean : dtype;
      const double rtol = is_comparison(c.op) ? 0 : rtol_for(dtype), atol = is_comparison(c.op) ? 0 : atol_for(dtype);
      for (int64_t cols : kKernelCols) {
        const Shape shape{3, cols};
        const std::string what = std::string(c.name) + " " + dname(dtype) + " cols " + std::to_string(cols);
        {
          const auto [a, b] = binary_inputs(c.op, shape, shape, 20 + cols, dtype);
          const Tensor expected = cpu_binary(c.op, a, b, out_dtype);
          for (Layout la : kLayouts)
            for (Layout lb : kLayouts) {
              if (la != lb && la != Layout::contiguous && lb != Layout::contiguous) continue;
              const Tensor ag = to_gpu(a, la), bg = to_gpu(b, lb);
              check_gpu_output([&](const Tensor& out) { binary_kernel().get(gpu())(c.op, ag, bg, out); }, expected,
                               out_dtype, Layout::contiguous, rtol, atol,
                               what + " a " + layout_name(la) + ", b " + layout_name(lb));
            }
          for (Layout lo : {Layout::transposed, Layout::misaligned}) {
            const Tensor ag = to_gpu(a), bg = to_gpu(b);
            check_gpu_output([&](const Tensor& out) { binary_kernel().get(gpu())(c.op, ag, bg, out); }, expected,
                             out_dtype, lo, rtol, atol, what);
          }
        }
        // b a row broadcast down the rows (the bias pattern), a column broadcast, a scalar.
        for (const Shape& sb : {Shape{cols}, Shape{3, 1}, Shape{}}) {
          const auto [a, b_small] = binary_inputs(c.op, shape, sb, 40 + cols, dtype);
          const Tensor expected = cpu_binary(c.op, a, broadcast_view(b_small, shape), out_dtype);
          for (Layout la : {Layout::contiguous, Layout::misaligned}) {
            const Tensor ag = to_gpu(a, la), bg = broadcast_view(to_gpu(b_small), shape);
            check_gpu_output([&](const Tensor& out) { binary_kernel().get(gpu())(c.op, ag, bg, out); }, expected,
                             out_dtype, Layout::contiguous, rtol, atol,
                             what + " b broadcast from " + shape_str(sb) + ", a " + layout_name(la));
            // The broadcast operand first as well.
            const Tensor expected_swapped = cpu_binary(c.op, broadcast_view(b_small, shape), a, out_dtype);
            check_gpu_output([&](const Tensor& out) { binary_kernel().get(gpu())(c.op, bg, ag, out); },
                             expected_swapped, out_dtype, Layout::contiguous, rtol, atol,
                             what + " a broadcast from " + shape_str(sb));
          }
        }
      }
    }
  }
}

CORTEX_GPU_TEST("cuda binary kernel: integer and bool dtypes") {
  for (const auto& c : kBinaryCases) {
    if (!c.integer) continue;
    for (DType dtype : {DType::i32, DType::i64, DType::i8, DType::u8, DType::boolean}) {
      // Unsigned results must stay representable: no subtraction on u8/bool.
      if (c.op == BinaryOp::sub && (dtype == DType::u8 || dtype == DType::boolean)) continue;
      const DType out_dtype = is_comparison(c.op) ? DType::boolean : dtype;
      for (int64_t cols : {1, 17, 129, 4097}) {
        const Shape shape{3, cols};
        const auto [a, b] = binary_inputs(c.op, shape, shape, 60 + cols, dtype);
        const std::string what = std::string(c.name) + " " + dname(dtype) + " cols " + std::to_string(cols);
        check_gpu_output([&](const Tensor& out) { binary_kernel().get(gpu())(c.op, to_gpu(a), to_gpu(b), out); },
                         cpu_binary(c.op, a, b, out_dtype), out_dtype, Layout::contiguous, 0, 0, what);
        check_gpu_output(
            [&](const Tensor& out) {
              binary_kernel().get(gpu())(c.op, to_gpu(a, Layout::transposed), to_gpu(b, Layout::misaligned), out);
            },
            cpu_binary(c.op, a, b, out_dtype), out_dtype, Layout::contiguous, 0, 0, what + " strided");
      }
    }
  }
}

CORTEX_GPU_TEST("cuda where kernel: every dtype, broadcast condition and operands") {
  const DType all[] = {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i8,
                       DType::u8,  DType::boolean, DType::i32, DType::i64};
  for (DType dtype : all) {
    for (int64_t cols : kKernelCols) {
      const Shape shape{3, cols};
      const Tensor cond = small_ints(shape, 70 + cols, DType::boolean, 0, 2);
      const Tensor a = small_ints(shape, 71 + cols, dtype, 0, 5), b = small_ints(shape, 72 + cols, dtype, 0, 5);
      Tensor expected = empty(shape, dtype);
      where_kernel().get(Device::cpu())(cond, a, b, expected);
      for (Layout l : kLayouts)
        check_gpu_output(
            [&](const Tensor& out) { where_kernel().get(gpu())(to_gpu(cond, l), to_gpu(a, l), to_gpu(b), out); },
            expected, dtype, Layout::contiguous, 0, 0,
            std::string("where ") + dname(dtype) + " cols " + std::to_string(cols) + " " + layout_name(l));
      // Condition broadcast down the rows, b a scalar.
      const Tensor cond_row = small_ints({cols}, 73 + cols, DType::boolean, 0, 2);
      const Tensor b_scalar = small_ints({}, 74, dtype, 0, 5);
      Tensor expected_b = empty(shape, dtype);
      where_kernel().get(Device::cpu())(broadcast_view(cond_row, shape), a, broadcast_view(b_scalar, shape), expected_b);
      check_gpu_output(
          [&](const Tensor& out) {
            where_kernel().get(gpu())(broadcast_view(to_gpu(cond_row), shape), to_gpu(a),
                                      broadcast_view(to_gpu(b_scalar), shape), out);
          },
          expected_b, dtype, Layout::contiguous, 0, 0, std::string("where broadcast ") + dname(dtype));
    }
  }
}

CORTEX_GPU_TEST("cuda element-wise kernels: views with more dims than the indexer holds") {
  // Ten dims that cannot be merged: the host splits off the leading ones.
  const Shape shape{2, 2, 2, 2, 2, 2, 2, 2, 3, 5};
  const Tensor a = random(shape, 1, DType::f32), b = random(shape, 2, DType::f32);
  const Tensor expected = cpu_binary(BinaryOp::mul, a, b, DType::f32);
  check_gpu_output([&](const Tensor& out) { binary_kernel().get(gpu())(BinaryOp::mul, padded_gpu(a), padded_gpu(b), out); },
                   expected, DType::f32, Layout::contiguous, 1e-6, 1e-7, "mul of padded 10-d views");
  // Rows path: contiguous rows under nine non-mergeable outer dims, row broadcast operand.
  const Shape wide{2, 2, 2, 2, 2, 2, 2, 2, 2, 16};
  const Tensor x = random(wide, 3, DType::bf16), bias = random({16}, 4, DType::bf16);
  Shape padded_outer = wide;
  for (size_t d = 0; d + 1 < padded_outer.size(); ++d) padded_outer[d] += 1;
  Tensor buf = full(padded_outer, 0, DType::bf16, gpu());
  Tensor xv = buf.view_as_strided(wide, buf.strides(), 0);
  copy_(xv, x);
  check_gpu_output(
      [&](const Tensor& out) {
        binary_kernel().get(gpu())(BinaryOp::add, xv, broadcast_view(to_gpu(bias), wide), out);
      },
      cpu_binary(BinaryOp::add, x, broadcast_view(bias, wide), DType::bf16), DType::bf16, Layout::contiguous, 1e-2,
      1e-2, "bias add under 9 padded outer dims");
}

// The bcast path: [R, C] operands contiguous or broadcast down the rows (row stride 0), C a
// multiple of the vector width; other C fall back to the rows/strided paths. Odd R, column
// counts that split into partial column blocks, and a tall case past the grid cap (the
// grid-stride loop over rows).
CORTEX_GPU_TEST("cuda element-wise kernels: row-broadcast operand on contiguous [R, C] (bcast path)") {
  const std::vector<Shape> shapes{{1, 8},    {7, 8},    {7, 12},   {301, 24},  {301, 40}, {1027, 512},
                                  {33, 1000}, {33, 1001}, {5, 2056}, {3, 4104}, {140001, 8}};
  const std::pair<BinaryOp, const char*> ops[] = {
      {BinaryOp::add, "add"}, {BinaryOp::sub, "sub"}, {BinaryOp::gelu_backward, "gelu_backward"}, {BinaryOp::gt, "gt"}};
  for (DType dtype : {DType::f32, DType::bf16, DType::f16}) {
    for (const Shape& shape : shapes) {
      const int64_t cols = shape[1];
      const std::string where = std::string(dname(dtype)) + " " + shape_str(shape);
      for (const auto& entry : ops) {
        const BinaryOp op = entry.first;  // not a structured binding: lambdas capture it
        const char* op_name = entry.second;
        if (shape[0] > 10000 && op != BinaryOp::add) continue;  // the tall case once is enough
        const DType out_dtype = is_comparison(op) ? DType::boolean : dtype;
        const double rtol = is_comparison(op) ? 0 : rtol_for(dtype), atol = is_comparison(op) ? 0 : atol_for(dtype);
        const auto [a, b_row] = binary_inputs(op, shape, {cols}, 60 + cols, dtype);
        const Tensor ag = to_gpu(a), bg = broadcast_view(to_gpu(b_row), shape);
        const Tensor b_full = broadcast_view(b_row, shape);
        check_gpu_output([&](const Tensor& out) { binary_kernel().get(gpu())(op, ag, bg, out); },
                         cpu_binary(op, a, b_full, out_dtype), out_dtype, Layout::contiguous, rtol, atol,
                         std::string(op_name) + " " + where + " b row-broadcast");
        check_gpu_output([&](const Tensor& out) { binary_kernel().get(gpu())(op, bg, ag, out); },
                         cpu_binary(op, b_full, a, out_dtype), out_dtype, Layout::contiguous, rtol, atol,
                         std::string(op_name) + " " + where + " a row-broadcast");
      }
      // Both operands broadcast from rows, and a unary op of a row-broadcast input.
      const Tensor r1 = random({cols}, 70 + cols, dtype), r2 = random({cols}, 71 + cols, dtype);
      check_gpu_output(
          [&](const Tensor& out) {
            binary_kernel().get(gpu())(BinaryOp::mul, broadcast_view(to_gpu(r1), shape), broadcast_view(to_gpu(r2), shape),
                                       out);
          },
          cpu_binary(BinaryOp::mul, broadcast_view(r1, shape), broadcast_view(r2, shape), dtype), dtype,
          Layout::contiguous, rtol_for(dtype), atol_for(dtype), "mul " + where + " both row-broadcast");
      check_gpu_output(
          [&](const Tensor& out) { unary_kernel().get(gpu())(UnaryOp::gelu, broadcast_view(to_gpu(r1), shape), 0, out); },
          cpu_unary(UnaryOp::gelu, broadcast_view(r1, shape), 0), dtype, Layout::contiguous, rtol_for(dtype),
          atol_for(dtype), "gelu " + where + " row-broadcast input");
    }
  }
}
