#pragma once
// One launcher for every element-wise kernel (unary, binary, where, gather). An
// element-wise functor F has N operands (the output first), a vector width kVec() for
// 16-byte accesses of its widest operand, and two device methods:
//
//   template <int VEC, typename Index> Inputs<VEC> load(const Index (&row)[N], Index col, unsigned broadcast) const;
//   template <int VEC, typename Index> void store(const Index (&row)[N], Index col, const Inputs<VEC>&) const;
//
// for VEC consecutive elements starting at column `col` of a row whose operand k starts at
// element row[k]; bit k of `broadcast` marks an operand with a zero inner stride (read its
// row[k] element for every column). store computes and writes. Kernels load several
// vectors before storing any, so that enough bytes are in flight to saturate memory.
// Where F::kSpecialize, F also has with_op(body), which calls body with a copy of F whose op
// is a compile-time constant (dispatch_op), and the vectorised kernels run a loop
// specialised for one op: a run-time switch inside the per-element code makes every
// unrolled element carry every op, and the instruction cache thrashes (16-bit GELU ran at
// a quarter of the copy bandwidth). Integer dtypes and the strided path keep the switch,
// which saves compile time where speed matters less. F::kUnroll vectors per thread are
// loaded before any is stored.
//
// The launcher picks one of three paths:
//   flat:    every operand contiguous or a broadcast scalar; 16-byte vectors when aligned
//   bcast:   one [R, C] dim pair, every operand contiguous or broadcast along the rows
//            (a bias added to a matrix); 16-byte vectors, no index division
//   rows:    inner dim contiguous (or broadcast) for every operand, outer dims strided;
//            16-byte vectors when rows stay aligned
//   strided: anything else, offsets from the coalesced shape and strides
#include <algorithm>
#include <array>
#include <limits>

#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/strided_indexer.cuh"
#include "cuda/kernels/vector_access.cuh"

namespace cortex::cuda {

constexpr int kElementwiseThreads = 256;

// Calls fn(std::integral_constant<int, I>{}) for the I in [First, Last) equal to op.
template <int First, int Last, typename Fn>
__device__ __forceinline__ void dispatch_op(int op, Fn&& fn) {
  if constexpr (First < Last) {
    if (op == First) fn(std::integral_constant<int, First>{});
    else dispatch_op<First + 1, Last>(op, fn);
  }
}

template <int VEC, typename F>
__device__ __forceinline__ void elementwise_flat_loop(const F& f, int64_t n, unsigned broadcast) {
  constexpr int U = F::kUnroll;
  const int64_t row[F::N] = {};
  const int64_t stride = static_cast<int64_t>(blockDim.x) * VEC;  // between a thread's vectors
  const int64_t step = static_cast<int64_t>(gridDim.x) * stride * U;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * stride * U + static_cast<int64_t>(threadIdx.x) * VEC;
       base < n; base += step) {
    if (base + (U - 1) * stride + VEC <= n) {
      typename F::template Inputs<VEC> in[U];
#pragma unroll
      for (int u = 0; u < U; ++u) in[u] = f.template load<VEC>(row, base + u * stride, broadcast);
#pragma unroll
      for (int u = 0; u < U; ++u) f.template store<VEC>(row, base + u * stride, in[u]);
    } else {
      for (int u = 0; u < U; ++u) {
        const int64_t i = base + u * stride;
        if (i + VEC <= n) {
          f.template store<VEC>(row, i, f.template load<VEC>(row, i, broadcast));
        } else {
          for (int64_t j = i; j < n; ++j) f.template store<1>(row, j, f.template load<1>(row, j, broadcast));
        }
      }
    }
  }
}

template <int VEC, typename F>
__global__ void __launch_bounds__(kElementwiseThreads) elementwise_flat_kernel(F f, int64_t n, unsigned broadcast) {
  if constexpr (VEC > 1 && F::kSpecialize) f.with_op([&](const auto& g) { elementwise_flat_loop<VEC>(g, n, broadcast); });
  else elementwise_flat_loop<VEC>(f, n, broadcast);
}

template <int VEC, typename F, typename Outer>
__device__ __forceinline__ void elementwise_rows_loop(const F& f, const Outer& outer, int32_t vecs_per_row,
                                                      int64_t total, unsigned broadcast) {
  constexpr int U = F::kUnroll;
  const int64_t stride = static_cast<int64_t>(blockDim.x);
  const int64_t step = static_cast<int64_t>(gridDim.x) * stride * U;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * stride * U + threadIdx.x; base < total; base += step) {
    int32_t row[U][F::N], col[U];
    typename F::template Inputs<VEC> in[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t t = base + u * stride;
      if (t < total) {
        const int32_t tt = static_cast<int32_t>(t);
        const int32_t r = tt / vecs_per_row;
        outer.offsets(r, row[u]);
        col[u] = (tt - r * vecs_per_row) * VEC;
        in[u] = f.template load<VEC>(row[u], col[u], broadcast);
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (base + u * stride < total) f.template store<VEC>(row[u], col[u], in[u]);
  }
}

template <int VEC, typename F>
__global__ void __launch_bounds__(kElementwiseThreads)
    elementwise_rows_kernel(F f, StridedIndexer<F::N> outer, int32_t vecs_per_row, int64_t total, unsigned broadcast) {
  if constexpr (F::kSpecialize)
    f.with_op([&](const auto& g) { elementwise_rows_loop<VEC>(g, outer, vecs_per_row, total, broadcast); });
  else
    elementwise_rows_loop<VEC>(f, outer, vecs_per_row, total, broadcast);
}

// [R, C] with every operand either contiguous (row stride C) or a row broadcast (row stride
// 0, bit k of row_bcast). A 2-D block: x walks column vectors, which stay fixed for the
// thread, y walks rows; so there is no division per vector (the rows path's index math
// made 16-bit bias adds run at half the copy bandwidth) and a row's offset is one multiply.
template <int VEC, typename F>
__device__ __forceinline__ void elementwise_bcast_loop(const F& f, int64_t rows, int64_t cols, int32_t vecs_per_row,
                                                       unsigned row_bcast) {
  constexpr int U = F::kUnroll;
  const int32_t v = static_cast<int32_t>(blockIdx.x * blockDim.x + threadIdx.x);
  if (v >= vecs_per_row) return;
  const int64_t col = static_cast<int64_t>(v) * VEC;
  const int64_t stride = static_cast<int64_t>(gridDim.y) * blockDim.y;  // between a thread's rows
  for (int64_t base = static_cast<int64_t>(blockIdx.y) * blockDim.y * U + threadIdx.y; base < rows;
       base += stride * U) {
    int64_t row[U][F::N];
    typename F::template Inputs<VEC> in[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t r = base + u * static_cast<int64_t>(blockDim.y);
      if (r < rows) {
#pragma unroll
        for (int k = 0; k < static_cast<int>(F::N); ++k) row[u][k] = (row_bcast >> k) & 1u ? 0 : r * cols;
        in[u] = f.template load<VEC>(row[u], col, 0u);
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (base + u * static_cast<int64_t>(blockDim.y) < rows) f.template store<VEC>(row[u], col, in[u]);
  }
}

template <int VEC, typename F>
__global__ void __launch_bounds__(kElementwiseThreads)
    elementwise_bcast_kernel(F f, int64_t rows, int64_t cols, int32_t vecs_per_row, unsigned row_bcast) {
  if constexpr (F::kSpecialize)
    f.with_op([&](const auto& g) { elementwise_bcast_loop<VEC>(g, rows, cols, vecs_per_row, row_bcast); });
  else
    elementwise_bcast_loop<VEC>(f, rows, cols, vecs_per_row, row_bcast);
}

template <typename Index, typename F, typename Indexer>
__device__ __forceinline__ void elementwise_strided_loop(const F& f, const Indexer& ix, int64_t n) {
  constexpr int U = F::kUnroll;
  const int64_t stride = static_cast<int64_t>(blockDim.x);
  const int64_t step = static_cast<int64_t>(gridDim.x) * stride * U;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * stride * U + threadIdx.x; base < n; base += step) {
    Index off[U][F::N];
    typename F::template Inputs<1> in[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const int64_t t = base + u * stride;
      if (t < n) {
        ix.offsets(static_cast<Index>(t), off[u]);
        in[u] = f.template load<1>(off[u], Index(0), 0u);
      }
    }
#pragma unroll
    for (int u = 0; u < U; ++u)
      if (base + u * stride < n) f.template store<1>(off[u], Index(0), in[u]);
  }
}

template <typename Index, typename F>
__global__ void __launch_bounds__(kElementwiseThreads) elementwise_strided_kernel(F f, StridedIndexer<F::N> ix, int64_t n) {
  elementwise_strided_loop<Index>(f, ix, n);  // the slow path: one loop for every op
}

// Runs f over the shape of operands[0] (the output); operands are the tensors in F's order.
// allow_vec = false keeps to one element at a time (when F reads at offsets the operands'
// strides don't show).
template <typename F>
void launch_elementwise(const F& f, const std::array<const Tensor*, F::N>& operands, const char* name,
                        bool allow_vec = true) {
  constexpr size_t N = F::N;
  constexpr int VEC = F::kVec();
  constexpr int U = F::kUnroll;
  const Tensor& out = *operands[0];
  if (out.numel() == 0) return;
  std::array<const Shape*, N> strides;
  for (size_t k = 0; k < N; ++k) strides[k] = &operands[k]->strides();
  const StridedPlan<N> plan(out.shape(), strides);
  const int ndim = static_cast<int>(plan.shape.size());
  const auto inner = plan.inner_strides();
  cudaStream_t stream = current_stream();

  bool inner_unit = ndim == 0 || inner[0] == 1;
  unsigned broadcast = 0;
  for (size_t k = 0; k < N; ++k) {
    if (ndim == 0 || inner[k] == 0) broadcast |= 1u << k;
    else if (inner[k] != 1) inner_unit = false;
  }
  if (ndim == 0) broadcast &= ~1u;  // a single element: the output is written at offset 0 either way
  // Vectors need every streamed operand aligned at each row start.
  auto rows_aligned = [&](bool check_outer) {
    if (!allow_vec) return false;
    for (size_t k = 0; k < N; ++k) {
      if (broadcast & (1u << k)) continue;
      if (!is_aligned(operands[k]->data_ptr(), operands[k]->itemsize() * VEC)) return false;
      if (check_outer)
        for (int d = 0; d + 1 < ndim; ++d)
          if (plan.strides[k][static_cast<size_t>(d)] % VEC != 0) return false;
    }
    return true;
  };

  if (inner_unit && ndim <= 1) {
    const int64_t n = plan.row_length();
    if (VEC > 1 && rows_aligned(false)) {
      elementwise_flat_kernel<VEC><<<grid_for(n, int64_t{kElementwiseThreads} * VEC * U, kElementwiseThreads),
                                     kElementwiseThreads, 0, stream>>>(f, n, broadcast);
    } else {
      elementwise_flat_kernel<1><<<grid_for(n, int64_t{kElementwiseThreads} * U, kElementwiseThreads),
                                   kElementwiseThreads, 0, stream>>>(f, n, broadcast);
    }
    CORTEX_CUDA_CHECK_LAUNCH(name);
    return;
  }

  const int64_t cols = plan.row_length();
  // bcast path: [R, C], each operand's row stride C or 0, at least one 0.
  unsigned row_bcast = 0;
  bool bcast_rows = VEC > 1 && ndim == 2 && inner_unit && broadcast == 0 && cols % VEC == 0 &&
                    cols / VEC <= std::numeric_limits<int32_t>::max();
  for (size_t k = 0; k < N && bcast_rows; ++k) {
    const int64_t s = plan.strides[k][0];
    if (s == 0 && k > 0) row_bcast |= 1u << k;
    else if (s != cols) bcast_rows = false;
  }
  if (bcast_rows && row_bcast != 0 && rows_aligned(true)) {
    const int64_t rows = plan.shape[0], vecs = cols / VEC;
    // bx: a power of two, so that bx * by = 256; the one that wastes the fewest threads on
    // the last column block, at least a warp when a row has that many vectors.
    int bx = 1;
    while (bx < 32 && bx < vecs) bx *= 2;
    int64_t waste = ceil_div(vecs, bx) * bx - vecs;
    for (int p = bx * 2; p <= kElementwiseThreads && vecs >= 32; p *= 2) {
      const int64_t w = ceil_div(vecs, p) * p - vecs;
      if (w <= waste) {
        bx = p;
        waste = w;
      }
    }
    const int by = kElementwiseThreads / bx;
    const int64_t col_blocks = ceil_div(vecs, bx);
    const int64_t row_blocks = ceil_div(rows, int64_t{by} * U);
    const int64_t cap = std::max<int64_t>(1, int64_t{sm_count()} * (2048 / kElementwiseThreads) * 4 / col_blocks);
    const dim3 grid(static_cast<unsigned>(col_blocks), static_cast<unsigned>(std::min({row_blocks, cap, int64_t{65535}})));
    elementwise_bcast_kernel<VEC><<<grid, dim3(bx, by), 0, stream>>>(f, rows, cols, static_cast<int32_t>(vecs),
                                                                       row_bcast);
    CORTEX_CUDA_CHECK_LAUNCH(name);
    return;
  }
  if (VEC > 1 && inner_unit && cols % VEC == 0 && fits_int32(plan) && rows_aligned(true)) {
    StridedPlan<N> outer = plan;
    outer.shape.pop_back();
    for (auto& s : outer.strides) s.pop_back();
    for_each_indexer<N>(outer, [&](const StridedIndexer<N>& ix, int64_t rows) {
      const int64_t total = rows * (cols / VEC);
      elementwise_rows_kernel<VEC><<<grid_for(total, int64_t{kElementwiseThreads} * U, kElementwiseThreads),
                                     kElementwiseThreads, 0, stream>>>(f, ix, static_cast<int32_t>(cols / VEC), total,
                                                                       broadcast);
      CORTEX_CUDA_CHECK_LAUNCH(name);
    });
    return;
  }

  const bool small = fits_int32(plan);
  for_each_indexer<N>(plan, [&](const StridedIndexer<N>& ix, int64_t n) {
    const unsigned grid = grid_for(n, int64_t{kElementwiseThreads} * U, kElementwiseThreads);
    if (small) {
      elementwise_strided_kernel<int32_t><<<grid, kElementwiseThreads, 0, stream>>>(f, ix, n);
    } else {
      elementwise_strided_kernel<int64_t><<<grid, kElementwiseThreads, 0, stream>>>(f, ix, n);
    }
    CORTEX_CUDA_CHECK_LAUNCH(name);
  });
}

}  // namespace cortex::cuda
