#pragma once
// The machinery shared by the row-wise kernels (softmax, RMSNorm, LayerNorm) over contiguous
// rows [R, C], so that each kernel file keeps only its own math:
// - RowLayout / plan_rows: `group` threads own one row: a power of two from 4 to 32 (part of a
//   warp or one warp; several rows per block, reductions by shuffles only) for rows that fit
//   32 threads' tiles, otherwise whole warps (up to 512 threads; 256 in the norms' backward)
//   whose warps meet in shared memory. A thread holds K vectors of VEC elements of the row per tile in registers;
//   rows longer than one tile of the largest group are walked tile by tile (multi-tile
//   kernels), re-reading them for each pass (mostly from L2).
// - RowTile: a thread's share of a tile, loaded and stored as 16-byte vectors when the rows
//   and pointers allow (VEC = 16 / sizeof(T)), element by element otherwise.
// - for_each_row / row_reduce: the grid-stride walk over rows and the row-group reduction,
//   with a fixed combination order, so results are the same bits on every run.
// - GradRowTiles: the norms' backward row loop over x, gy and w.
// - ColumnSums / column_partials_kernel: the norms' weight gradients, summed per block into
//   one f32 (f64) partial row in a fixed order, then over the partial rows by a second
//   kernel in a fixed order. No atomics: results do not depend on scheduling.
#include <algorithm>
#include <array>
#include <atomic>
#include <initializer_list>
#include <type_traits>

#include "cuda/kernels/block_reduce.cuh"
#include "cuda/kernels/fast_convert.cuh"
#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/vector_access.cuh"
#include "engine/factory.h"

namespace cortex::cuda {

// Row statistics run in f32 (f64 for f64), as in the CPU kernels.
template <typename T>
using stat_t = std::conditional_t<std::is_same_v<T, double>, double, float>;

// exp for the statistics: the hardware approximation in f32 (a few ulps, well inside the
// f32 tolerance), the accurate one in f64.
__device__ __forceinline__ float stat_exp(float x) { return __expf(x); }
__device__ __forceinline__ double stat_exp(double x) { return exp(x); }

// 1 / sqrt(x) for the norms' rstd, rounded once: unlike 1 / sqrt(x) it has no slow-path
// subroutine call, whose saved registers ptxas reports as spills.
__device__ __forceinline__ float stat_rsqrt(float x) { return __frsqrt_rn(x); }
__device__ __forceinline__ double stat_rsqrt(double x) { return rsqrt(x); }

constexpr int kMaxRowGroup = 512;
constexpr int kMinRowGroup = 4;
constexpr int kRowScratch = kMaxRowGroup / 32;  // one slot per warp of a block
// Blocks of sub-warp or warp row groups in kernels that handle one row per group.
constexpr int kWarpRowsBlock = 128;
// Register caps (ptxas -v, sm_90a: no spills for any dtype). The one-row-per-group kernels
// take __launch_bounds__(kMaxRowGroup, row_min_blocks<T>()): 64 registers, so that an SM
// holds 1024 threads (64 KB of loads in flight at 64 bytes a thread). 16-bit rows fit too
// (55-64 registers: their pairs stay packed until used); f64 statistics take two registers
// each, so f64 gets 128 (tests only).
template <typename T>
constexpr int row_min_blocks() {
  return sizeof(T) == 8 ? 1 : 2;
}
// Blocks of the weight-gradient kernels: several row groups share a block, so that there
// are few blocks and so few partial rows; the grid is as many blocks as fit on the SMs at
// once. Their column sums hold one f32 (f64) accumulator per element held: 80 registers
// (three blocks per SM) fit f32's 8 elements per input, while 16-bit rows hold 16 (and f64
// sums take two registers each), so those get 128: two blocks of 256 threads per SM.
constexpr int kPartialBlock = 256;
template <typename T>
constexpr int partial_min_blocks() {
  return sizeof(T) == 4 ? 3 : 2;
}

// Tile sizes: 64 bytes of the row per thread in the forward kernels (four 16-byte vectors,
// whatever the dtype: bytes in flight per thread, not elements, keep HBM busy), and 32
// bytes of each of the two row inputs in the backward kernels. The element-wise fallback
// holds 8 (4) elements: each has its own address and check, which cost registers.
template <int VEC>
constexpr int forward_tile_vectors() {
  return VEC > 1 ? 4 : 8;
}
template <int VEC>
constexpr int backward_tile_vectors() {
  return VEC > 1 ? 2 : 4;
}

struct RowLayout {
  int64_t rows = 0;
  int cols = 0;
  int nvec = 0;    // cols / VEC
  int group = 32;  // threads per row
  int tiles = 1;
  int threads = kWarpRowsBlock;  // per block

  __host__ __device__ int rows_per_block() const { return threads / group; }
};

// Layout for K vectors of VEC elements per thread per tile. Groups of up to a warp share
// blocks of `block_threads`; wider groups (up to block_threads when `share_wide_groups`,
// else kMaxRowGroup) get a block each, or, with `share_wide_groups`, as many as fit in
// `block_threads`.
template <int VEC, int K>
RowLayout plan_rows(int64_t rows, int64_t cols, const char* op, int block_threads, bool share_wide_groups) {
  const int max_group = share_wide_groups ? block_threads : kMaxRowGroup;
  CORTEX_CHECK(cols < (int64_t{1} << 30), op, "rows of ", cols, " elements are longer than the CUDA kernel handles");
  RowLayout l;
  l.rows = rows;
  l.cols = static_cast<int>(cols);
  l.nvec = static_cast<int>(cols / VEC);
  const int64_t threads_needed = ceil_div(l.nvec, K);
  if (threads_needed <= 32) {
    l.group = kMinRowGroup;
    while (l.group < threads_needed) l.group *= 2;
    l.threads = block_threads;
  } else {
    l.group = static_cast<int>(std::min<int64_t>(max_group, ceil_div(threads_needed, 32) * 32));
    l.threads = share_wide_groups ? std::max(1, block_threads / l.group) * l.group : l.group;
  }
  l.tiles = static_cast<int>(ceil_div(l.nvec, int64_t{l.group} * K));
  return l;
}

// Tiles per row in a kernel compiled for one tile (kOneTile) or several: a constant 1 in the
// former, so that the compiler drops the tile loops and their index arithmetic (registers).
template <bool kOneTile>
__host__ __device__ __forceinline__ int tile_count(const RowLayout& l) {
  return kOneTile ? 1 : l.tiles;
}

// One row per group, every row at once (a grid-stride loop only past 8 waves of blocks).
inline unsigned row_grid(const RowLayout& l) {
  const int64_t needed = ceil_div(l.rows, l.rows_per_block());
  const int64_t cap = int64_t{sm_count()} * std::max(1, 2048 / l.threads) * 8;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(needed, cap)));
}

// A kernel as a type, to pass it to a generic lambda as a compile-time constant.
template <auto kKernel>
struct kernel_constant {
  static constexpr auto value = kKernel;
};

// Blocks of `threads` threads of kKernel resident on one SM at once (registers, shared
// memory), asked once per block size: the same for every device of one architecture.
template <auto kKernel>
int resident_blocks(int threads) {
  static std::array<std::atomic<int>, kMaxRowGroup + 1> known{};
  int n = known[threads].load(std::memory_order_relaxed);
  if (n == 0) {
    CORTEX_CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&n, kKernel, threads, 0));
    n = std::max(1, n);
    known[threads].store(n, std::memory_order_relaxed);
  }
  return n;
}

// Blocks of kKernel that each walk many rows and leave one partial row: as many as are
// resident at once, so none waits for another; at least one, which writes zero partials
// when there are no rows.
template <auto kKernel>
unsigned partial_grid(const RowLayout& l) {
  const int64_t needed = ceil_div(l.rows, l.rows_per_block());
  const int64_t cap = int64_t{sm_count()} * resident_blocks<kKernel>(l.threads);
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(needed, cap)));
}

// Calls launch(std::integral_constant<int, VEC>) with VEC = 16 / sizeof(T) when rows of
// `cols` elements at these pointers can be read as aligned 16-byte vectors, else VEC = 1.
template <typename T, typename Launch>
void with_row_vector_width(int64_t cols, std::initializer_list<const void*> ptrs, Launch&& launch) {
  constexpr int VEC = 16 / sizeof(T);
  bool vectorizable = cols % VEC == 0;
  for (const void* p : ptrs) vectorizable = vectorizable && is_aligned(p, 16);
  if (vectorizable) launch(std::integral_constant<int, VEC>{});
  else launch(std::integral_constant<int, 1>{});
}

// One thread's share of one tile of a row: K vectors of VEC elements. Vector i of a tile
// is at (tile * K + i) * group + lane, so a group's loads of vector i are consecutive.
template <typename T, int VEC_, int K_>
struct RowTile {
  static constexpr int VEC = VEC_;
  static constexpr int K = K_;
  // 16-bit floats in vectors are handled as 32-bit pairs.
  static constexpr bool kPairs = (std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>) && VEC % 2 == 0;
  Vec<T, VEC> v[K];

  // Two f32 values rounded to nearest even as one 32-bit word of T (a first, in the low half).
  __device__ __forceinline__ static unsigned round_pair(float a, float b) {
    if constexpr (std::is_same_v<T, bfloat16>) {
      const __nv_bfloat162 p = __floats2bfloat162_rn(a, b);
      return static_cast<unsigned>(__bfloat16_as_ushort(p.x)) | static_cast<unsigned>(__bfloat16_as_ushort(p.y)) << 16;
    } else {
      const __half2 p = __floats2half2_rn(a, b);
      return static_cast<unsigned>(__half_as_ushort(p.x)) | static_cast<unsigned>(__half_as_ushort(p.y)) << 16;
    }
  }

  __device__ __forceinline__ static int vec_index(const RowLayout& l, int tile, int i, int lane) {
    return (tile * K + i) * l.group + lane;
  }
  __device__ __forceinline__ static bool valid(const RowLayout& l, int tile, int i, int lane) {
    return vec_index(l, tile, i, lane) < l.nvec;
  }
  // Column of element j of vector i.
  __device__ __forceinline__ static int column(const RowLayout& l, int tile, int i, int j, int lane) {
    return vec_index(l, tile, i, lane) * VEC + j;
  }
  // Loads the valid vectors (the others stay unset and are never read).
  __device__ __forceinline__ void load(const T* row, const RowLayout& l, int tile, int lane) {
#pragma unroll
    for (int i = 0; i < K; ++i)
      if (valid(l, tile, i, lane)) v[i] = load_vec<VEC>(row + vec_index(l, tile, i, lane) * VEC, false);
  }
  // Element j of vector i in A. A bf16 pair is widened from its 32-bit word (a shift or a
  // mask), so the compiler keeps the vector packed in registers instead of unpacking it
  // into one register per element.
  template <typename A>
  __device__ __forceinline__ A get(int i, int j) const {
    if constexpr (kPairs && std::is_same_v<T, bfloat16>) {
      const unsigned word = reinterpret_cast<const unsigned*>(&v[i])[j / 2];
      return static_cast<A>(__uint_as_float(j % 2 ? word & 0xffff0000u : word << 16));
    } else {
      return dconvert<A>(v[i].v[j]);
    }
  }
  // f(i, j) for each valid element of the tile.
  template <typename F>
  __device__ __forceinline__ static void for_each(const RowLayout& l, int tile, int lane, F&& f) {
#pragma unroll
    for (int i = 0; i < K; ++i)
      if (valid(l, tile, i, lane))
#pragma unroll
        for (int j = 0; j < VEC; ++j) f(i, j);
  }
  // Stores value(i, j) (converted to T) for each valid element of the tile of row `out`.
  template <typename F>
  __device__ __forceinline__ static void store(T* out, const RowLayout& l, int tile, int lane, F&& value) {
#pragma unroll
    for (int i = 0; i < K; ++i) {
      if (!valid(l, tile, i, lane)) continue;
      Vec<T, VEC> o;
      if constexpr (kPairs) {  // one paired conversion instruction per two elements
        unsigned* words = reinterpret_cast<unsigned*>(&o);
#pragma unroll
        for (int j = 0; j < VEC; j += 2) {
          const float a = value(i, j), b = value(i, j + 1);
          words[j / 2] = round_pair(a, b);
        }
      } else {
#pragma unroll
        for (int j = 0; j < VEC; ++j) o.v[j] = dconvert<T>(value(i, j));
      }
      store_vec<VEC>(out + vec_index(l, tile, i, lane) * VEC, o);
    }
  }
};

// body(row, active, lane) for the row of this thread's group, then the rows a grid further
// on. Every thread of the block runs every step, those past the last row with
// active == false, so that row_reduce may synchronise the block.
template <typename Body>
__device__ __forceinline__ void for_each_row(const RowLayout& l, Body&& body) {
  const int lane = threadIdx.x % l.group;
  const int per_block = l.rows_per_block();
  const int64_t step = static_cast<int64_t>(gridDim.x) * per_block;
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < l.rows; base += step) {
    const int64_t row = base + threadIdx.x / l.group;
    body(row, row < l.rows, lane);
  }
}

// Reduces v over the thread's row group; every thread of the group gets the result. All
// threads of the block must call it together (see for_each_row). scratch: kRowScratch values.
template <typename V, typename Combine>
__device__ __forceinline__ V row_reduce(V v, Combine combine, const RowLayout& l, V* scratch) {
  if (l.group <= 32) return warp_reduce(v, combine, l.group);
  v = warp_reduce(v, combine);
  const int warp = threadIdx.x >> 5, warps = l.group >> 5, first = (threadIdx.x / l.group) * warps;
  __syncthreads();  // scratch may still be read by the previous call
  if ((threadIdx.x & 31) == 0) scratch[warp] = v;
  __syncthreads();
  v = scratch[first];
  for (int w = 1; w < warps; ++w) v = combine(v, scratch[first + w]);
  return v;
}

// One row of the norms' backward kernels: its x and gy, and w. Single-tile rows stay in
// registers between the passes, and w is loaded once before the row loop (weights(): a
// thread's columns are the same in every row); otherwise each pass reloads the three for
// each tile. Made afresh for each row, so that no tile is live from one row to the next.
template <typename T, typename Tile, bool kOneTile>
struct GradRowTiles {
  Tile x, g;
  Tile& w;
  const T* xr;
  const T* gr;
  const T* wp;

  __device__ __forceinline__ static Tile weights(const T* weight, const RowLayout& l) {
    Tile t;
    if (kOneTile) t.load(weight, l, 0, threadIdx.x % l.group);
    return t;
  }
  // x_row and gy_row: the thread's rows of x and gy; w_tile: from weights().
  __device__ __forceinline__ GradRowTiles(const T* x_row, const T* gy_row, const T* weight, Tile& w_tile, bool active,
                                          const RowLayout& l, int lane)
      : w(w_tile), xr(x_row), gr(gy_row), wp(weight) {
    if (kOneTile && active) {
      x.load(xr, l, 0, lane);
      g.load(gr, l, 0, lane);
    }
  }
  // One pass over the row: body(tile) for each tile, with x, g and w holding it.
  template <typename F>
  __device__ __forceinline__ void for_each_tile(const RowLayout& l, int lane, F&& body) {
    for (int tile = 0; tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) {
        x.load(xr, l, tile, lane);
        g.load(gr, l, tile, lane);
        w.load(wp, l, tile, lane);
      }
      body(tile);
    }
  }
};

// A block's sums over its rows of one weight-gradient term per column, left as the block's
// partial row partial[blockIdx.x][c]. Single-tile rows accumulate in registers (a thread's
// columns stay the same from row to row) and the block's row groups are added in group
// order at the end; multi-tile rows (one group per block) accumulate in the partial row
// itself, each column owned by one thread.
template <typename A, typename Tile, bool kOneTile>
struct ColumnSums {
  static constexpr int K = Tile::K, VEC = Tile::VEC;
  // Shared memory the block's finish() needs: one row of columns per row group.
  static constexpr int kBufferSize = kOneTile ? kPartialBlock * K * VEC : 1;
  A acc[kOneTile ? K : 1][kOneTile ? VEC : 1];
  A* partial;

  __device__ __forceinline__ ColumnSums(const RowLayout& l, A* partials, int lane)
      : partial(partials + static_cast<int64_t>(blockIdx.x) * l.cols) {
    if constexpr (kOneTile) {
#pragma unroll
      for (int i = 0; i < K; ++i)
#pragma unroll
        for (int j = 0; j < VEC; ++j) acc[i][j] = 0;
    } else {
      for (int tile = 0; tile < l.tiles; ++tile)
        Tile::for_each(l, tile, lane, [&](int i, int j) { partial[Tile::column(l, tile, i, j, lane)] = 0; });
    }
  }
  __device__ __forceinline__ void add(const RowLayout& l, int tile, int i, int j, int lane, A v) {
    if constexpr (kOneTile) acc[i][j] += v;
    else partial[Tile::column(l, tile, i, j, lane)] += v;
  }
  // Writes the block's partial row (single tile). Every thread of the block calls it; the
  // buffer is free again when it returns.
  __device__ __forceinline__ void finish(const RowLayout& l, A* buffer) {
    if constexpr (kOneTile) {
      const int lane = threadIdx.x % l.group, my_group = threadIdx.x / l.group, per_block = l.rows_per_block();
      if (per_block == 1) {
        Tile::for_each(l, 0, lane, [&](int i, int j) { partial[Tile::column(l, 0, i, j, lane)] = acc[i][j]; });
        return;
      }
      A* mine = buffer + static_cast<int64_t>(my_group) * l.cols;
      Tile::for_each(l, 0, lane, [&](int i, int j) { mine[Tile::column(l, 0, i, j, lane)] = acc[i][j]; });
      __syncthreads();
      for (int c = threadIdx.x; c < l.cols; c += blockDim.x) {
        A s = buffer[c];
        for (int g = 1; g < per_block; ++g) s += buffer[static_cast<int64_t>(g) * l.cols + c];
        partial[c] = s;
      }
      __syncthreads();
    }
  }
};

constexpr int kColumnTile = 32;    // columns per block of column_partials_kernel
constexpr int kColumnSlices = 32;  // partial rows summed side by side per column

// out_k[c] = sum over g of partials[k][g][c], in g order within each of kColumnSlices
// interleaved slices, then over the slices in order (a fixed order: deterministic).
// blockIdx.y picks k (out0 or out1); block (kColumnTile, kColumnSlices).
template <typename T, typename A>
__global__ void __launch_bounds__(kColumnTile* kColumnSlices)
    column_partials_kernel(const A* partials, int groups, int cols, T* out0, T* out1) {
  __shared__ A sums[kColumnSlices][kColumnTile + 1];
  const int c = blockIdx.x * kColumnTile + threadIdx.x;
  const A* p = partials + static_cast<int64_t>(blockIdx.y) * groups * cols;
  A acc = 0;
  if (c < cols) {
#pragma unroll 4
    for (int g = threadIdx.y; g < groups; g += kColumnSlices) acc += p[static_cast<int64_t>(g) * cols + c];
  }
  sums[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && c < cols) {
    A s = sums[0][threadIdx.x];
    for (int k = 1; k < kColumnSlices; ++k) s += sums[k][threadIdx.x];
    (blockIdx.y == 0 ? out0 : out1)[c] = dconvert<T>(s);
  }
}

// Workspace for `outputs` weight-gradient terms of `groups` blocks over `cols` columns.
template <typename A>
Tensor column_partials(int outputs, unsigned groups, int64_t cols, Device device) {
  return empty({int64_t{outputs} * groups, cols}, std::is_same_v<A, double> ? DType::f64 : DType::f32, device);
}

// The second pass: sums the partial rows into out0 (and out1 when given).
template <typename T, typename A>
void sum_column_partials(const Tensor& partials, unsigned groups, int64_t cols, T* out0, T* out1, const char* op) {
  const dim3 grid(static_cast<unsigned>(ceil_div(cols, kColumnTile)), out1 ? 2u : 1u);
  column_partials_kernel<T, A><<<grid, dim3(kColumnTile, kColumnSlices), 0, current_stream()>>>(
      static_cast<const A*>(partials.data_ptr()), static_cast<int>(groups), static_cast<int>(cols), out0, out1);
  CORTEX_CUDA_CHECK_LAUNCH(op);
}

}  // namespace cortex::cuda
