#pragma once
// Shared layout of the row-wise kernels (softmax, RMSNorm, LayerNorm) over contiguous rows
// [R, C]. `group` threads handle one row: part of a warp or a warp (several rows per block)
// for short rows, the whole block for long ones. Each thread holds K vectors of VEC
// elements of the row in registers; a row that does not fit in one such tile per thread
// is walked tile by tile, re-reading it for every pass (the L2 cache catches most of that).
#include <algorithm>

#include "cuda/kernels/block_reduce.cuh"
#include "cuda/kernels/fast_convert.cuh"
#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/vector_access.cuh"

namespace cortex::cuda {

// Vectors per thread per tile: forward kernels hold 16 elements of a row per thread (as
// 16-byte vectors when aligned), backward kernels, which also hold gy, w and partial sums,
// 8. Few registers per thread keep occupancy, and so the bytes in flight, high.
template <int VEC>
constexpr int row_tile_vectors() {
  return 16 / VEC;
}
template <int VEC>
constexpr int row_tile_vectors_backward() {
  return VEC >= 8 ? 1 : 8 / VEC;
}
constexpr int kMaxRowGroup = 512;
constexpr int kMinRowGroup = 4;
constexpr int kSmallGroupThreads = 128;  // block size when groups are a warp or less
// Columns of a row handled by one warp or less in a backward kernel (its block-combine
// buffer): 32 threads of 8 elements.
constexpr int kMaxWarpRowCols = 32 * 8;

// Row statistics run in f32 (f64 for f64), as in the CPU kernels.
template <typename T>
using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// exp for the statistics: the hardware approximation in f32 (a few ulps, well inside the
// f32 tolerance), the accurate one in f64.
__device__ __forceinline__ float stat_exp(float x) { return __expf(x); }
__device__ __forceinline__ double stat_exp(double x) { return exp(x); }

struct RowLayout {
  int64_t rows = 0;
  int cols = 0;
  int nvec = 0;    // cols / VEC
  int group = 32;  // threads per row
  int tiles = 1;
  int threads = kSmallGroupThreads;  // per block

  __host__ __device__ int rows_per_block() const { return threads / group; }
};

template <int VEC, int K>
RowLayout plan_rows(int64_t rows, int64_t cols, const char* op) {
  CORTEX_CHECK(cols < (int64_t{1} << 31), op, "rows of ", cols, " elements are longer than the CUDA kernel handles");
  RowLayout l;
  l.rows = rows;
  l.cols = static_cast<int>(cols);
  l.nvec = static_cast<int>(cols / VEC);
  const int64_t threads_needed = ceil_div(l.nvec, K);
  if (threads_needed <= 32) {
    l.group = kMinRowGroup;
    while (l.group < threads_needed) l.group *= 2;
  } else {
    l.group = static_cast<int>(std::min<int64_t>(kMaxRowGroup, ceil_div(threads_needed, 32) * 32));
  }
  l.tiles = static_cast<int>(ceil_div(l.nvec, int64_t{l.group} * K));
  l.threads = l.group <= 32 ? kSmallGroupThreads : l.group;
  return l;
}

// Whether rows of `cols` elements of T can be read in 16-byte vectors from these pointers.
template <typename T>
bool rows_vectorizable(int64_t cols, std::initializer_list<const void*> ptrs) {
  constexpr int VEC = 16 / sizeof(T);
  if (cols % VEC != 0) return false;
  for (const void* p : ptrs)
    if (!is_aligned(p, 16)) return false;
  return true;
}

// One thread's share of one tile of a row: K vectors of VEC elements.
template <typename T, int VEC, int KV>
struct RowTile {
  static constexpr int K = KV;
  Vec<T, VEC> v[K];

  // Index of the thread's i-th vector of the tile in the row (valid when < nvec).
  __device__ __forceinline__ static int vec_index(const RowLayout& l, int tile, int i, int lane) {
    return (tile * K + i) * l.group + lane;
  }
  __device__ __forceinline__ static bool valid(const RowLayout& l, int tile, int i, int lane) {
    return vec_index(l, tile, i, lane) < l.nvec;
  }
  __device__ __forceinline__ void load(const T* row, const RowLayout& l, int tile, int lane) {
#pragma unroll
    for (int i = 0; i < K; ++i)
      if (valid(l, tile, i, lane)) v[i] = load_vec<VEC>(row + vec_index(l, tile, i, lane) * VEC, false);
  }
  template <typename A>
  __device__ __forceinline__ A get(int i, int j) const {
    return dconvert<A>(v[i].v[j]);
  }
};

// The next row of a group, loaded while the current one is reduced, so that each thread
// keeps two rows' loads in flight. Only for 16-bit rows of a single tile: f32 rows carry
// twice the bytes per thread already, and the extra registers would cost them occupancy.
template <typename Tile, typename T>
struct RowPrefetch {
  static constexpr bool kEnabled = sizeof(T) == 2;
  Tile next;
  __device__ __forceinline__ void start(const T* base, const RowLayout& l, int64_t row, int lane) {
    if (kEnabled && l.tiles == 1 && row < l.rows) next.load(base + row * l.cols, l, 0, lane);
  }
  // Loads row `row` of a one-tile layout into t: hands over the prefetched row and starts
  // row + step, or (not enabled) loads it now.
  __device__ __forceinline__ void take(Tile& t, const T* base, const RowLayout& l, int64_t row, int64_t step,
                                       int lane) {
    if constexpr (kEnabled) {
      t = next;
      if (row + step < l.rows) next.load(base + (row + step) * l.cols, l, 0, lane);
    } else {
      t.load(base + row * l.cols, l, 0, lane);
    }
  }
};

// Sums per-block partial columns partial[g][c] over g in order: the second, deterministic
// pass of a weight gradient.
template <typename T, typename A>
__global__ void column_partials_kernel(const A* partial, int groups, int cols, T* out) {
  for (int c = blockIdx.x * blockDim.x + threadIdx.x; c < cols; c += gridDim.x * blockDim.x) {
    A acc = 0;
    for (int g = 0; g < groups; ++g) acc += partial[static_cast<int64_t>(g) * cols + c];
    out[c] = dconvert<T>(acc);
  }
}

// Grid for a row kernel. With weight-gradient partials (one partial row per block) or
// prefetching (each row group must walk several rows for the next row's loads to overlap
// the current row's reduction), about 1024 threads per SM, what the kernels' registers
// allow; otherwise a few waves of blocks.
inline unsigned row_grid(const RowLayout& l, bool partials_or_prefetch) {
  const int64_t needed = ceil_div(l.rows, l.rows_per_block());
  const int64_t cap = int64_t{sm_count()} * std::max(1, (partials_or_prefetch ? 1024 : 2048 * 8) / l.threads);
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(needed, cap)));
}

}  // namespace cortex::cuda
