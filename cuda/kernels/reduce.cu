// CUDA reduce_kernel (sum/max/min over any set of dims) and argmax_kernel.
//
// The reduced dims and the kept dims are each coalesced into a strided sub-view. Two
// layouts cover the cases that matter:
//   rows:    a warp (or a block, for long reductions) per output walks the reduced
//            elements; used when the reduced dims are innermost (row sums, softmax-like)
//            or there are few outputs.
//   columns: a thread per output, consecutive threads on consecutive outputs, the reduced
//            dim split over threadIdx.y; used for reductions over outer dims (bias grads).
// Either may split the reduction over several blocks (grid.y); those write partial results
// that a second kernel combines in a fixed order, so sums are deterministic (no atomics).
// Accumulation: f32 for f32 and the 16-bit floats, f64 for f64, i64 for integers and bool.
#include <limits>

#include "cuda/kernels/block_reduce.cuh"
#include "cuda/kernels/fast_convert.cuh"
#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/strided_indexer.cuh"
#include "cuda/kernels/vector_access.cuh"
#include "engine/factory.h"
#include "ops/reduction_layout.h"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

// The combination rule of one ReduceOp; max/min propagate NaN as the CPU kernel does.
template <typename A>
struct Reducer {
  ReduceOp op;
  __device__ __forceinline__ A identity() const {
    if (op == ReduceOp::sum) return A(0);
    if constexpr (std::numeric_limits<A>::has_infinity) {
      return op == ReduceOp::max ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::infinity();
    } else {
      return op == ReduceOp::max ? std::numeric_limits<A>::lowest() : std::numeric_limits<A>::max();
    }
  }
  __device__ __forceinline__ A operator()(A acc, A v) const {
    if (op == ReduceOp::sum) return acc + v;
    if (op == ReduceOp::max) return v > acc || v != v ? v : acc;
    return v < acc || v != v ? v : acc;
  }
};

// Where the elements of one reduction live relative to its output's input offset.
struct ReducedView {
  StridedIndexer<1> ix;
  int64_t stride;  // when ix.ndim <= 1: element e is at e * stride
  __device__ __forceinline__ int64_t offset(int64_t e) const {
    if (ix.ndim <= 1) return e * stride;
    int64_t off[1];
    ix.offsets(e, off);
    return off[0];
  }
};

// Output m of the kept view: its offset in out (k = 0) and in x (k = 1).
using KeptView = StridedIndexer<2>;

// x element as the accumulator type.
template <typename A, typename T>
__device__ __forceinline__ A acc_value(T v) {
  return static_cast<A>(dconvert<compute_t<T>>(v));
}

// Rows layout. blockDim.x = group * outputs_per_block; grid.y splits each reduction into
// chunks of `chunk` elements (a multiple of VEC). With VEC > 1 the reduced elements of an
// output are contiguous and aligned, read as 16-byte vectors. Partial results go to
// partial[split * M + m] when split.
template <typename T, typename A, int VEC>
__global__ void reduce_rows_kernel(const T* x, T* out, A* partial, KeptView kept, ReducedView reduced, int64_t M,
                                   int64_t L, int64_t chunk, int group, Reducer<A> red) {
  __shared__ A scratch[32];
  const int per_block = blockDim.x / group;
  const int lane = threadIdx.x % group;
  const int64_t begin = blockIdx.y * chunk, end = begin + chunk < L ? begin + chunk : L;
  // Whole blocks iterate together so that block-wide reductions stay in step.
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < M;
       base += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t m = base + threadIdx.x / group;
    A acc = red.identity();
    int64_t off[2] = {0, 0};
    if (m < M) {
      kept.offsets(m, off);
      const T* xm = x + off[1];
      if constexpr (VEC > 1) {
#pragma unroll 2
        for (int64_t e = begin + int64_t{lane} * VEC; e < end; e += int64_t{group} * VEC) {
          const Vec<T, VEC> v = load_vec<VEC>(xm + e, false);
#pragma unroll
          for (int j = 0; j < VEC; ++j) acc = red(acc, acc_value<A>(v.v[j]));
        }
      } else {
#pragma unroll 4
        for (int64_t e = begin + lane; e < end; e += group) acc = red(acc, acc_value<A>(xm[reduced.offset(e)]));
      }
    }
    acc = group_reduce(acc, red, group, scratch);
    if (m < M && lane == 0) {
      if (partial) partial[blockIdx.y * M + m] = acc;
      else out[off[0]] = dconvert<T>(static_cast<compute_t<T>>(acc));
    }
  }
}

// Columns layout: block (32, kColumnRows); thread x owns VEC consecutive outputs (consecutive
// along x's innermost kept dim, read as one 16-byte vector when VEC > 1), threads y split
// the reduction. out_step: out's stride between those consecutive outputs.
constexpr int kColumnRows = 8;

template <typename T, typename A, int VEC>
__global__ void reduce_columns_kernel(const T* x, T* out, A* partial, KeptView kept, ReducedView reduced, int64_t M,
                                      int64_t L, int64_t chunk, int64_t out_step, Reducer<A> red) {
  __shared__ A scratch[kColumnRows][32 * VEC + 1];
  const int64_t m = (static_cast<int64_t>(blockIdx.x) * 32 + threadIdx.x) * VEC;
  const int64_t begin = blockIdx.y * chunk, end = begin + chunk < L ? begin + chunk : L;
  A acc[VEC];
#pragma unroll
  for (int j = 0; j < VEC; ++j) acc[j] = red.identity();
  int64_t off[2] = {0, 0};
  if (m < M) {
    kept.offsets(m, off);
    const T* xm = x + off[1];
#pragma unroll 4
    for (int64_t e = begin + threadIdx.y; e < end; e += kColumnRows) {
      const Vec<T, VEC> v = load_vec<VEC>(xm + reduced.offset(e), false);
#pragma unroll
      for (int j = 0; j < VEC; ++j) acc[j] = red(acc[j], acc_value<A>(v.v[j]));
    }
  }
#pragma unroll
  for (int j = 0; j < VEC; ++j) scratch[threadIdx.y][threadIdx.x * VEC + j] = acc[j];
  __syncthreads();
  if (threadIdx.y == 0 && m < M) {
#pragma unroll
    for (int j = 0; j < VEC; ++j) {
      A a = acc[j];
      for (int r = 1; r < kColumnRows; ++r) a = red(a, scratch[r][threadIdx.x * VEC + j]);
      if (partial) partial[blockIdx.y * M + m + j] = a;
      else out[off[0] + j * out_step] = dconvert<T>(static_cast<compute_t<T>>(a));
    }
  }
}

// Combines the partial results of `splits` chunks. Block (32, kColumnRows): thread y sums
// splits y, y + kColumnRows, ... and thread y = 0 adds those in y order, a fixed order, so
// results stay deterministic; a serial loop per output was slow where M is small (bias
// gradients: a few hundred outputs, hundreds of splits).
template <typename T, typename A>
__global__ void reduce_finish_kernel(const A* partial, T* out, KeptView kept, int64_t M, int splits, Reducer<A> red) {
  __shared__ A scratch[kColumnRows][33];
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * 32; base < M; base += static_cast<int64_t>(gridDim.x) * 32) {
    const int64_t m = base + threadIdx.x;
    A acc = red.identity();
    if (m < M) {
#pragma unroll 4
      for (int s = static_cast<int>(threadIdx.y); s < splits; s += kColumnRows) acc = red(acc, partial[s * M + m]);
    }
    scratch[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && m < M) {
      for (int r = 1; r < kColumnRows; ++r) acc = red(acc, scratch[r][threadIdx.x]);
      int64_t off[2];
      kept.offsets(m, off);
      out[off[0]] = dconvert<T>(static_cast<compute_t<T>>(acc));
    }
    __syncthreads();  // scratch is reused by the next group of outputs
  }
}

template <size_t N>
StridedIndexer<N> make_indexer(const StridedPlan<N>& plan, const char* op) {
  CORTEX_CHECK(plan.shape.size() <= static_cast<size_t>(kMaxDims), op, "more than ", kMaxDims,
               " non-mergeable dims after coalescing: ", shape_str(plan.shape));
  StridedIndexer<N> ix;
  ix.ndim = static_cast<int>(plan.shape.size());
  for (size_t d = 0; d < plan.shape.size(); ++d) {
    ix.sizes[d] = plan.shape[d];
    for (size_t k = 0; k < N; ++k) ix.strides[k][d] = plan.strides[k][d];
  }
  return ix;
}

// Splits of a reduction of length L over `blocks` blocks so that the grid fills the chip,
// each split keeping at least `min_chunk` elements.
int pick_splits(int64_t blocks, int64_t L, int64_t min_chunk, int blocks_per_sm = 2) {
  const int64_t target = int64_t{blocks_per_sm} * sm_count();
  if (blocks >= target) return 1;
  const int64_t want = ceil_div(target, blocks);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>({want, ceil_div(L, min_chunk), 1024})));
}

DType acc_dtype(DType t) {
  if (t == DType::f64) return DType::f64;
  return is_floating(t) ? DType::f32 : DType::i64;
}

void cuda_reduce(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const Tensor& out) {
  DeviceScope scope(out);
  const ReductionLayout layout(x, out, dims);
  const StridedPlan<2> kept_plan(layout.kept_shape, {&layout.kept_out_strides, &layout.kept_x_strides});
  const StridedPlan<1> reduced_plan(layout.reduced_shape, {&layout.reduced_strides});
  const int64_t M = shape_numel(layout.kept_shape), L = shape_numel(layout.reduced_shape);
  if (M == 0) return;
  const KeptView kept = make_indexer(kept_plan, "reduce");
  ReducedView reduced{make_indexer(reduced_plan, "reduce"), reduced_plan.shape.empty() ? 0 : reduced_plan.strides[0].back()};
  const int64_t reduced_inner = reduced_plan.inner_strides()[0];
  const int64_t kept_x_inner = kept_plan.inner_strides()[1];
  // Contiguous reductions read along rows; otherwise threads run along the outputs, which
  // is coalesced when x's innermost kept dim is contiguous.
  const bool columns = reduced_inner != 1 && (kept_x_inner == 1 || M >= 1024);
  cudaStream_t stream = current_stream();

  visit_dtype(x.dtype(), "reduce", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    constexpr int VEC = 16 / sizeof(T);
    const Reducer<A> red{op};
    const T* px = static_cast<const T*>(x.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    auto multiple_of_vec = [&](const Shape& strides, size_t skip_last) {
      for (size_t d = 0; d + skip_last < strides.size(); ++d)
        if (strides[d] % VEC != 0) return false;
      return true;
    };
    const bool aligned = is_aligned(px, 16) && multiple_of_vec(kept_plan.strides[1], 0);
    int splits = 1;
    Tensor partial;
    auto partial_ptr = [&]() -> A* {
      if (splits == 1) return nullptr;
      partial = empty({splits, M}, acc_dtype(x.dtype()), x.device());
      return static_cast<A*>(partial.data_ptr());
    };
    if (columns) {
      const bool vec = kept_x_inner == 1 && kept_plan.shape.back() % VEC == 0 && is_aligned(px, 16) &&
                       multiple_of_vec(kept_plan.strides[1], 1) && multiple_of_vec(reduced_plan.strides[0], 0);
      const int64_t per_thread = vec ? VEC : 1;
      const int64_t bx = ceil_div(M / per_thread, 32);
      CORTEX_CHECK(bx <= 2147483647, "reduce", "too many outputs: ", M);
      // 4 blocks per SM, 8 rows a thread at least: [16384, 512] bf16 had 2 x 128 blocks.
      splits = pick_splits(bx, L, kColumnRows * 8, 4);
      const int64_t chunk = ceil_div(L, splits);
      A* pp = partial_ptr();
      const int64_t out_step = kept_plan.shape.empty() ? 0 : kept_plan.strides[0].back();
      const dim3 grid(static_cast<unsigned>(bx), static_cast<unsigned>(splits)), block(32, kColumnRows);
      if (vec) {
        reduce_columns_kernel<T, A, VEC><<<grid, block, 0, stream>>>(px, po, pp, kept, reduced, M, L, chunk, out_step, red);
      } else {
        reduce_columns_kernel<T, A, 1><<<grid, block, 0, stream>>>(px, po, pp, kept, reduced, M, L, chunk, out_step, red);
      }
    } else {
      // A warp per output for short reductions, a block for long ones.
      const bool vec = reduced_plan.shape.size() == 1 && reduced_inner == 1 && L % VEC == 0 && aligned;
      const int group = L <= 2048 ? 32 : 256;
      const int threads = 256;
      const int per_block = threads / group;
      const int64_t blocks = std::min<int64_t>(ceil_div(M, per_block), int64_t{sm_count()} * 32);
      splits = pick_splits(blocks, L, int64_t{group} * 16);
      const int64_t chunk = ceil_div(ceil_div(L, splits), VEC) * VEC;
      A* pp = partial_ptr();
      const dim3 grid(static_cast<unsigned>(blocks), static_cast<unsigned>(splits));
      if (vec) {
        reduce_rows_kernel<T, A, VEC><<<grid, threads, 0, stream>>>(px, po, pp, kept, reduced, M, L, chunk, group, red);
      } else {
        reduce_rows_kernel<T, A, 1><<<grid, threads, 0, stream>>>(px, po, pp, kept, reduced, M, L, chunk, group, red);
      }
    }
    CORTEX_CUDA_CHECK_LAUNCH("reduce");
    if (splits > 1) {
      reduce_finish_kernel<T, A><<<grid_for(M, 32, 32 * kColumnRows), dim3(32, kColumnRows), 0, stream>>>(
          static_cast<const A*>(partial.data_ptr()), po, kept, M, splits, red);
      CORTEX_CUDA_CHECK_LAUNCH("reduce (combine partial results)");
    }
  });
}

// ---- argmax ----------------------------------------------------------------------------

// (value, index) with the CPU kernel's rule: the first maximum wins; a NaN at index 0 wins
// outright and any other NaN never does (mapped to +inf and -inf, which ties then settle).
template <typename C>
struct ArgBest {
  C value;
  int64_t index;
};

template <typename C>
__device__ __forceinline__ ArgBest<C> better(ArgBest<C> a, ArgBest<C> b) {
  return (b.value > a.value || (b.value == a.value && b.index < a.index)) ? b : a;
}

template <typename C>
__device__ __forceinline__ ArgBest<C> shuffle_xor(ArgBest<C> v, int offset) {
  return {__shfl_xor_sync(kFullMask, v.value, offset), __shfl_xor_sync(kFullMask, v.index, offset)};
}

// Integers and bool compare as i64 (shuffles need a 32/64-bit type).
template <typename T>
using argmax_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, compute_t<T>, int64_t>;

template <typename T>
__global__ void argmax_rows_kernel(const T* x, int64_t* out, KeptView kept, int64_t M, int64_t L, int64_t stride,
                              int group) {
  using C = argmax_t<T>;
  __shared__ ArgBest<C> scratch[32];
  const int per_block = blockDim.x / group;
  const int lane = threadIdx.x % group;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < M;
       base += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t m = base + threadIdx.x / group;
    ArgBest<C> best{std::numeric_limits<C>::lowest(), std::numeric_limits<int64_t>::max()};
    if constexpr (std::numeric_limits<C>::has_infinity) best.value = -std::numeric_limits<C>::infinity();
    int64_t off[2] = {0, 0};
    if (m < M) {
      kept.offsets(m, off);
      for (int64_t e = lane; e < L; e += group) {
        C v = convert<C>(x[off[1] + e * stride]);
        if constexpr (std::numeric_limits<C>::has_quiet_NaN) {
          if (v != v) v = e == 0 ? std::numeric_limits<C>::infinity() : -std::numeric_limits<C>::infinity();
        }
        best = better(best, ArgBest<C>{v, e});
      }
    }
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) best = better(best, shuffle_xor(best, o));
    if (group > 32) {
      __syncthreads();
      if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = best;
      __syncthreads();
      best = scratch[0];
      for (int w = 1; w < group / 32; ++w) best = better(best, scratch[w]);
    }
    if (m < M && lane == 0) out[off[0]] = best.index;
  }
}

void cuda_argmax(const Tensor& x, int64_t dim, const Tensor& out) {
  DeviceScope scope(out);
  const ReductionLayout layout(x, out, {dim});
  const StridedPlan<2> kept_plan(layout.kept_shape, {&layout.kept_out_strides, &layout.kept_x_strides});
  const int64_t M = shape_numel(layout.kept_shape), L = x.size(dim);
  if (M == 0) return;
  const KeptView kept = make_indexer(kept_plan, "argmax");
  const int group = L <= 2048 ? 32 : 256;
  const int threads = 256;
  const int64_t blocks = std::min<int64_t>(ceil_div(M, threads / group), int64_t{sm_count()} * 32);
  visit_dtype(x.dtype(), "argmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    argmax_rows_kernel<T><<<static_cast<unsigned>(blocks), threads, 0, current_stream()>>>(
        static_cast<const T*>(x.data_ptr()), static_cast<int64_t*>(out.data_ptr()), kept, M, L, x.stride(dim), group);
    CORTEX_CUDA_CHECK_LAUNCH("argmax");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(reduce_kernel, CUDA, cuda_reduce);
CORTEX_REGISTER_KERNEL(argmax_kernel, CUDA, cuda_argmax);

}  // namespace cortex::cuda
