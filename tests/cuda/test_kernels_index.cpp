// CUDA index_select, gather, index_add and scatter_add kernels against the CPU kernels:
// element sizes 1 to 8 bytes, i32/i64 indices with repeats, views; index_add must match
// the CPU bit for bit and repeat exactly (it is deterministic by construction).
#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

Tensor indices(const Shape& shape, int64_t bound, uint64_t seed, DType dtype) {
  Generator g(seed);
  return randint(shape, 0, bound, dtype, Device::cpu(), &g);
}

// Values every dtype holds exactly, so copies and integer sums compare exactly.
Tensor exact_values(const Shape& shape, uint64_t seed, DType dtype) {
  Generator g(seed);
  const int64_t low = dtype == DType::boolean || dtype == DType::u8 ? 0 : -8;
  return data_to_dtype(randint(shape, low, dtype == DType::boolean ? 2 : 9, DType::i64, Device::cpu(), &g), dtype);
}

const DType kCopyTypes[] = {DType::f32, DType::bf16, DType::f64, DType::i64, DType::boolean, DType::i8};

}  // namespace

CORTEX_GPU_TEST("cuda index_select kernel: any dim, i32/i64 indices with repeats, 1- to 8-byte elements, views") {
  for (DType dtype : kCopyTypes) {
    for (DType itype : {DType::i32, DType::i64}) {
      for (int64_t cols : kKernelCols) {
        const Tensor x = exact_values({7, cols}, 10 + cols, dtype);
        for (int64_t dim : {0, 1}) {
          const int64_t bound = x.size(dim);
          const Tensor idx = indices({2 * bound + 3}, bound, 11 + cols, itype);
          Shape out_shape = x.shape();
          out_shape[static_cast<size_t>(dim)] = idx.numel();
          Tensor expected = empty(out_shape, dtype);
          index_select_kernel().get(Device::cpu())(x, dim, idx, expected);
          for (Layout l : kLayouts)
            check_gpu_output([&](const Tensor& out) { index_select_kernel().get(gpu())(to_gpu(x, l), dim, to_gpu(idx, l), out); },
                             expected, dtype, Layout::contiguous, 0, 0,
                             std::string("index_select ") + dname(dtype) + "/" + dname(itype) + " cols " +
                                 std::to_string(cols) + " dim " + std::to_string(dim) + " " + layout_name(l));
          check_gpu_output([&](const Tensor& out) { index_select_kernel().get(gpu())(to_gpu(x), dim, to_gpu(idx), out); },
                           expected, dtype, Layout::transposed, 0, 0, "index_select into a transposed output");
        }
      }
    }
  }
}

CORTEX_GPU_TEST("cuda gather kernel: along either dim, index smaller than the source, views") {
  for (DType dtype : kCopyTypes) {
    for (DType itype : {DType::i32, DType::i64}) {
      for (int64_t cols : kKernelCols) {
        const Tensor x = exact_values({6, cols}, 20 + cols, dtype);
        for (int64_t dim : {0, 1}) {
          const Shape ishape = dim == 1 ? Shape{5, 2 * cols + 1} : Shape{9, cols};
          const Tensor idx = indices(ishape, x.size(dim), 21 + cols, itype);
          Tensor expected = empty(ishape, dtype);
          gather_kernel().get(Device::cpu())(x, dim, idx, expected);
          for (Layout l : kLayouts)
            check_gpu_output([&](const Tensor& out) { gather_kernel().get(gpu())(to_gpu(x, l), dim, to_gpu(idx, l), out); },
                             expected, dtype, Layout::contiguous, 0, 0,
                             std::string("gather ") + dname(dtype) + "/" + dname(itype) + " cols " + std::to_string(cols) +
                                 " dim " + std::to_string(dim) + " " + layout_name(l));
        }
      }
    }
  }
}

CORTEX_GPU_TEST("cuda index_add kernel: the embedding backward, bit-identical to the CPU and across runs") {
  for (DType dtype : {DType::f32, DType::bf16, DType::f64, DType::i32}) {
    for (DType itype : {DType::i32, DType::i64}) {
      for (int64_t cols : {1, 17, 512}) {
        // Many picks into few rows: long groups of repeats.
        for (int64_t rows : {1, 37, 1000}) {
          const int64_t picks = 4097;
          const Tensor base = is_floating(dtype) ? random({rows, cols}, 30 + rows, dtype) : exact_values({rows, cols}, 30, dtype);
          const Tensor src = is_floating(dtype) ? random({picks, cols}, 31 + rows, dtype) : exact_values({picks, cols}, 31, dtype);
          const Tensor idx = indices({picks}, rows, 32 + rows + cols, itype);
          Tensor expected = contiguous_copy(base);
          index_add_kernel().get(Device::cpu())(expected, 0, idx, src);
          const std::string what = std::string("index_add ") + dname(dtype) + "/" + dname(itype) + " [" +
                                   std::to_string(rows) + ", " + std::to_string(cols) + "]";
          Tensor first = to_gpu(base), second = to_gpu(base, Layout::transposed);
          index_add_kernel().get(gpu())(first, 0, to_gpu(idx), to_gpu(src));
          index_add_kernel().get(gpu())(second, 0, to_gpu(idx, Layout::transposed), to_gpu(src, Layout::transposed));
          CHECK_MESSAGE(values(first) == values(expected), what, ": differs from the CPU");
          CHECK_MESSAGE(values(second) == values(first), what, ": differs between runs / layouts");
        }
      }
    }
  }
  // Along dim 1 of a 3-D tensor.
  const Tensor base = random({3, 11, 5}, 40, DType::f32), src = random({3, 300, 5}, 41, DType::f32);
  const Tensor idx = indices({300}, 11, 42, DType::i64);
  Tensor expected = contiguous_copy(base);
  index_add_kernel().get(Device::cpu())(expected, 1, idx, src);
  Tensor out = to_gpu(base);
  index_add_kernel().get(gpu())(out, 1, to_gpu(idx), to_gpu(src));
  CHECK(values(out) == values(expected));
}

CORTEX_GPU_TEST("cuda scatter_add kernel: deterministic lines and the atomic path, several dtypes") {
  for (DType dtype : {DType::f32, DType::bf16, DType::f64, DType::i32, DType::i64, DType::i8}) {
    for (DType itype : {DType::i32, DType::i64}) {
      // Short lines along dim 1 (the cross-entropy pattern): deterministic, exact.
      // Long lines along dim 0 over few positions: atomics.
      struct Case {
        Shape out, idx;
        int64_t dim;
        bool exact;
      };
      for (const Case& c : {Case{{300, 129}, {300, 3}, 1, true}, Case{{37, 8}, {5000, 8}, 0, !is_floating(dtype)}}) {
        const Tensor base = is_floating(dtype) ? random(c.out, 50, dtype) : exact_values(c.out, 50, dtype);
        const Tensor src = is_floating(dtype) ? random(c.idx, 51, dtype) : exact_values(c.idx, 51, dtype);
        const Tensor idx = indices(c.idx, c.out[static_cast<size_t>(c.dim)], 52, itype);
        Tensor expected = contiguous_copy(base);
        scatter_add_kernel().get(Device::cpu())(expected, c.dim, idx, src);
        Tensor out = to_gpu(base, Layout::transposed);
        scatter_add_kernel().get(gpu())(out, c.dim, to_gpu(idx), to_gpu(src, Layout::misaligned));
        const std::string what = std::string("scatter_add ") + dname(dtype) + "/" + dname(itype) + " dim " +
                                 std::to_string(c.dim);
        if (c.exact) {
          CHECK_MESSAGE(values(out) == values(expected), what, ": differs from the CPU");
        } else {
          // ~135 terms per element added in another order, each add rounded to the dtype (bf16
          // keeps 8 bits, so sums of ~10 carry ~0.05 per add).
          const double rtol = dtype == DType::bf16 ? 0.05 : dtype == DType::f32 ? 1e-5 : 1e-12;
          const double atol = dtype == DType::bf16 ? 1.0 : dtype == DType::f32 ? 1e-4 : 1e-10;
          expect_close(out, expected, rtol, atol, what);
        }
      }
    }
  }
}
