// CUDA rmsnorm_kernel / rmsnorm_backward_kernel over contiguous rows [R, C].
//   y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2) + eps)
//   gx = rstd * w * gy - x * rstd^3 / C * sum(w * gy * x),  gw = sum_rows(gy * x * rstd)
// Statistics in f32 (f64 for f64). The weight gradient is deterministic: each block sums
// its rows into one partial row (its row groups combining in a fixed order), then a second
// kernel adds the partial rows in order. No atomics.
#include "cuda/kernels/row_tiles.cuh"
#include "engine/factory.h"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

template <typename T, int VEC>
__global__ void __launch_bounds__(kMaxRowGroup) rmsnorm_rows_kernel(const T* x, const T* w, T* y, float* rstd,
                                                                    RowLayout l, double eps) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, row_tile_vectors<VEC>()>;
  constexpr int K = Tile::K;
  __shared__ A scratch[32];
  const int lane = threadIdx.x % l.group;
  const int per_block = l.rows_per_block();
  const int64_t step = static_cast<int64_t>(gridDim.x) * per_block;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * per_block + threadIdx.x / l.group;
  RowPrefetch<Tile, T> tx_next;
  tx_next.start(x, l, first, lane);
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < l.rows;
       base += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t row = base + threadIdx.x / l.group;
    const bool active = row < l.rows;
    const T* xr = x + row * l.cols;
    Tile tx;
    if (l.tiles == 1 && active) {
      tx_next.take(tx, x, l, row, step, lane);
    }
    A ss = 0;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (!active) break;
      if (l.tiles > 1) tx.load(xr, l, tile, lane);
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, tile, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j) {
            const A v = tx.template get<A>(i, j);
            ss += v * v;
          }
    }
    ss = group_reduce(ss, SumOp{}, l.group, scratch);
    if (!active) continue;
    const A r = A(1) / sqrt(ss / A(l.cols) + A(eps));
    if (lane == 0) rstd[row] = static_cast<float>(r);
    T* yr = y + row * l.cols;
    Tile tw;  // re-read per row (from L1): holding it across rows costs registers and occupancy
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (l.tiles > 1) tx.load(xr, l, tile, lane);
      tw.load(w, l, tile, lane);
#pragma unroll
      for (int i = 0; i < K; ++i) {
        if (!Tile::valid(l, tile, i, lane)) continue;
        Vec<T, VEC> o;
#pragma unroll
        for (int j = 0; j < VEC; ++j) o.v[j] = dconvert<T>(tx.template get<A>(i, j) * r * tw.template get<A>(i, j));
        store_vec<VEC>(yr + Tile::vec_index(l, tile, i, lane) * VEC, o);
      }
    }
  }
}

// partial[blockIdx.x][c] gets the block's sum of gy * x * rstd over its rows.
template <typename T, int VEC>
__global__ void __launch_bounds__(kMaxRowGroup) rmsnorm_grad_rows_kernel(const T* x, const T* w, const float* rstd,
                                                                         const T* gy, T* gx, stat_t<T>* partial,
                                                                         RowLayout l) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, row_tile_vectors_backward<VEC>()>;
  constexpr int K = Tile::K;
  __shared__ A scratch[32];
  __shared__ A combine[kMaxWarpRowCols];
  const int lane = threadIdx.x % l.group;
  const int per_block = l.rows_per_block();
  A* block_partial = partial + static_cast<int64_t>(blockIdx.x) * l.cols;
  A gw[K][VEC] = {};  // this thread's columns of the partial, when the row is one tile
  for (int tile = 0; tile < l.tiles && l.tiles > 1; ++tile)  // (one group per block here)
#pragma unroll
    for (int i = 0; i < K; ++i)
      if (Tile::valid(l, tile, i, lane))
#pragma unroll
        for (int j = 0; j < VEC; ++j) block_partial[Tile::vec_index(l, tile, i, lane) * VEC + j] = 0;
  const int64_t step = static_cast<int64_t>(gridDim.x) * per_block;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * per_block + threadIdx.x / l.group;
  RowPrefetch<Tile, T> tx_next;
  tx_next.start(x, l, first, lane);
  RowPrefetch<Tile, T> tg_next;
  tg_next.start(gy, l, first, lane);
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < l.rows;
       base += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t row = base + threadIdx.x / l.group;
    const bool active = row < l.rows;
    const T* xr = x + row * l.cols;
    const T* gr = gy + row * l.cols;
    Tile tx, tg, tw;  // w re-read per row (from L1) rather than held in registers
    if (l.tiles == 1 && active) {
      tx_next.take(tx, x, l, row, step, lane);
      tg_next.take(tg, gy, l, row, step, lane);
    }
    A dot = 0;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (!active) break;
      if (l.tiles > 1) {
        tx.load(xr, l, tile, lane);
        tg.load(gr, l, tile, lane);
      }
      tw.load(w, l, tile, lane);
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, tile, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j)
            dot += tg.template get<A>(i, j) * tw.template get<A>(i, j) * tx.template get<A>(i, j);
    }
    dot = group_reduce(dot, SumOp{}, l.group, scratch);
    if (!active) continue;
    const A r = rstd[row];
    const A k = r * r * r * dot / A(l.cols);
    T* out = gx + row * l.cols;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (l.tiles > 1) {
        tx.load(xr, l, tile, lane);
        tg.load(gr, l, tile, lane);
        tw.load(w, l, tile, lane);
      }
#pragma unroll
      for (int i = 0; i < K; ++i) {
        if (!Tile::valid(l, tile, i, lane)) continue;
        Vec<T, VEC> o;
        const int c0 = Tile::vec_index(l, tile, i, lane) * VEC;
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const A xv = tx.template get<A>(i, j), g = tg.template get<A>(i, j);
          o.v[j] = dconvert<T>(r * tw.template get<A>(i, j) * g - xv * k);
          if (l.tiles == 1) gw[i][j] += g * xv * r;
          else block_partial[c0 + j] += g * xv * r;  // a tile column belongs to one thread of the block
        }
        store_vec<VEC>(out + c0, o);
      }
    }
  }
  if (l.tiles > 1) return;
  // The block's row groups add their columns into `combine` one group after another.
  const int my_group = threadIdx.x / l.group;
  for (int g = 0; g < per_block; ++g) {
    if (g == my_group)
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, 0, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j) {
            const int c = Tile::vec_index(l, 0, i, lane) * VEC + j;
            if (per_block == 1) block_partial[c] = gw[i][j];
            else combine[c] = g == 0 ? gw[i][j] : combine[c] + gw[i][j];
          }
    if (per_block > 1) __syncthreads();
  }
  if (per_block > 1)
    for (int c = threadIdx.x; c < l.cols; c += blockDim.x) block_partial[c] = combine[c];
}

void cuda_rmsnorm(const Tensor& x, const Tensor& w, double eps, const Tensor& y, const Tensor& rstd) {
  DeviceScope scope(y);
  const int64_t rows = x.size(0), cols = x.size(1);
  if (rows == 0 || cols == 0) return;
  visit_floating(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto launch = [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, row_tile_vectors<VEC>()>(rows, cols, "rms_norm");
      rmsnorm_rows_kernel<T, VEC><<<row_grid(l, sizeof(T) == 2), l.threads, 0, current_stream()>>>(
          static_cast<const T*>(x.data_ptr()), static_cast<const T*>(w.data_ptr()), static_cast<T*>(y.data_ptr()),
          static_cast<float*>(rstd.data_ptr()), l, eps);
    };
    if (rows_vectorizable<T>(cols, {x.data_ptr(), w.data_ptr(), y.data_ptr()}))
      launch(std::integral_constant<int, 16 / sizeof(T)>{});
    else
      launch(std::integral_constant<int, 1>{});
    CORTEX_CUDA_CHECK_LAUNCH("rms_norm");
  });
}

void cuda_rmsnorm_backward(const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& gy, const Tensor& gx,
                           const Tensor& gw) {
  DeviceScope scope(gx);
  const int64_t rows = x.size(0), cols = x.size(1);
  if (cols == 0) return;
  visit_floating(x.dtype(), "rms_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    auto launch = [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, row_tile_vectors_backward<VEC>()>(rows, cols, "rms_norm_backward");
      const unsigned grid = row_grid(l, true);
      Tensor partial = empty({int64_t{grid}, cols}, std::is_same_v<A, double> ? DType::f64 : DType::f32, x.device());
      rmsnorm_grad_rows_kernel<T, VEC><<<grid, l.threads, 0, current_stream()>>>(
          static_cast<const T*>(x.data_ptr()), static_cast<const T*>(w.data_ptr()),
          static_cast<const float*>(rstd.data_ptr()), static_cast<const T*>(gy.data_ptr()),
          static_cast<T*>(gx.data_ptr()), static_cast<A*>(partial.data_ptr()), l);
      CORTEX_CUDA_CHECK_LAUNCH("rms_norm_backward");
      column_partials_kernel<T, A><<<static_cast<unsigned>(ceil_div(cols, 256)), 256, 0, current_stream()>>>(
          static_cast<const A*>(partial.data_ptr()), static_cast<int>(grid), static_cast<int>(cols),
          static_cast<T*>(gw.data_ptr()));
      CORTEX_CUDA_CHECK_LAUNCH("rms_norm_backward (weight gradient)");
    };
    if (rows_vectorizable<T>(cols, {x.data_ptr(), w.data_ptr(), gy.data_ptr(), gx.data_ptr()}))
      launch(std::integral_constant<int, 16 / sizeof(T)>{});
    else
      launch(std::integral_constant<int, 1>{});
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(rmsnorm_kernel, CUDA, cuda_rmsnorm);
CORTEX_REGISTER_KERNEL(rmsnorm_backward_kernel, CUDA, cuda_rmsnorm_backward);

}  // namespace cortex::cuda
