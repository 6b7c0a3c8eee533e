// CUDA layernorm_kernel / layernorm_backward_kernel over contiguous rows [R, C].
//   y = (x - mean) * rstd * w + b, with the variance taken around the mean (two passes
//   over the values held in registers, as the CPU kernel does in f64)
//   xhat = (x - mean) * rstd, gh = gy * w:
//   gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)); gw = sum_rows(gy * xhat); gb = sum_rows(gy)
// Statistics in f32 (f64 for f64); weight and bias gradients via one partial row per block
// (its row groups combining in a fixed order) summed in order by a second kernel
// (deterministic, no atomics).
#include "cuda/kernels/row_tiles.cuh"
#include "engine/factory.h"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

// gy * w rounded on its own (never fused into a following add), so that both passes of the
// backward see the same value and mean(gh) cancels gh exactly where it should.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

template <typename T, int VEC>
__global__ void __launch_bounds__(kMaxRowGroup) layernorm_rows_kernel(const T* x, const T* w, const T* b, T* y, float* mean, float* rstd,
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
    A s = 0;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (!active) break;
      if (l.tiles > 1) tx.load(xr, l, tile, lane);
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, tile, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j) s += tx.template get<A>(i, j);
    }
    const A mu = group_reduce(s, SumOp{}, l.group, scratch) / A(l.cols);
    A ss = 0;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (!active) break;
      if (l.tiles > 1) tx.load(xr, l, tile, lane);
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, tile, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j) {
            const A d = tx.template get<A>(i, j) - mu;
            ss += d * d;
          }
    }
    ss = group_reduce(ss, SumOp{}, l.group, scratch);
    if (!active) continue;
    const A r = A(1) / sqrt(ss / A(l.cols) + A(eps));
    if (lane == 0) {
      mean[row] = static_cast<float>(mu);
      rstd[row] = static_cast<float>(r);
    }
    T* yr = y + row * l.cols;
    Tile tw, tb;  // re-read per row (from L1): holding them across rows costs registers and occupancy
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (l.tiles > 1) tx.load(xr, l, tile, lane);
      tw.load(w, l, tile, lane);
      tb.load(b, l, tile, lane);
#pragma unroll
      for (int i = 0; i < K; ++i) {
        if (!Tile::valid(l, tile, i, lane)) continue;
        Vec<T, VEC> o;
#pragma unroll
        for (int j = 0; j < VEC; ++j)
          o.v[j] = dconvert<T>((tx.template get<A>(i, j) - mu) * r * tw.template get<A>(i, j) + tb.template get<A>(i, j));
        store_vec<VEC>(yr + Tile::vec_index(l, tile, i, lane) * VEC, o);
      }
    }
  }
}

// partial[b][c] and partial[blocks + b][c] get block b's sums of gy * xhat and of gy.
template <typename T, int VEC>
__global__ void __launch_bounds__(kMaxRowGroup) layernorm_grad_rows_kernel(const T* x, const T* w, const float* mean, const float* rstd, const T* gy,
                                           T* gx, stat_t<T>* partial, int64_t blocks, RowLayout l) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, row_tile_vectors_backward<VEC>()>;
  constexpr int K = Tile::K;
  __shared__ Pair<A> scratch[32];
  __shared__ A combine_w[kMaxWarpRowCols], combine_b[kMaxWarpRowCols];
  const int lane = threadIdx.x % l.group;
  const int per_block = l.rows_per_block();
  A* partial_w = partial + static_cast<int64_t>(blockIdx.x) * l.cols;
  A* partial_b = partial + (blocks + blockIdx.x) * l.cols;
  A gw[K][VEC] = {}, gb[K][VEC] = {};  // this thread's partial columns, when the row is one tile
  for (int tile = 0; tile < l.tiles && l.tiles > 1; ++tile)  // (one group per block here)
#pragma unroll
    for (int i = 0; i < K; ++i)
      if (Tile::valid(l, tile, i, lane))
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const int c = Tile::vec_index(l, tile, i, lane) * VEC + j;
          partial_w[c] = 0;
          partial_b[c] = 0;
        }
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
    const A mu = active ? A(mean[row]) : A(0), r = active ? A(rstd[row]) : A(0);
    Tile tx, tg, tw;  // w re-read per row (from L1) rather than held in registers
    if (l.tiles == 1 && active) {
      tx_next.take(tx, x, l, row, step, lane);
      tg_next.take(tg, gy, l, row, step, lane);
    }
    Pair<A> sums{0, 0};  // sum(gh), sum(gh * xhat)
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
          for (int j = 0; j < VEC; ++j) {
            const A gh = mul_rn(tg.template get<A>(i, j), tw.template get<A>(i, j));
            sums.a += gh;
            sums.b += gh * ((tx.template get<A>(i, j) - mu) * r);
          }
    }
    sums = group_reduce(sums, SumOp{}, l.group, scratch);
    if (!active) continue;
    const A mean_g = sums.a / A(l.cols), mean_gx = sums.b / A(l.cols);
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
          const A g = tg.template get<A>(i, j);
          const A xhat = (tx.template get<A>(i, j) - mu) * r;
          o.v[j] = dconvert<T>(r * (mul_rn(g, tw.template get<A>(i, j)) - mean_g - xhat * mean_gx));
          if (l.tiles == 1) {
            gw[i][j] += g * xhat;
            gb[i][j] += g;
          } else {
            partial_w[c0 + j] += g * xhat;
            partial_b[c0 + j] += g;
          }
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
            if (per_block == 1) {
              partial_w[c] = gw[i][j];
              partial_b[c] = gb[i][j];
            } else {
              combine_w[c] = g == 0 ? gw[i][j] : combine_w[c] + gw[i][j];
              combine_b[c] = g == 0 ? gb[i][j] : combine_b[c] + gb[i][j];
            }
          }
    if (per_block > 1) __syncthreads();
  }
  if (per_block > 1)
    for (int c = threadIdx.x; c < l.cols; c += blockDim.x) {
      partial_w[c] = combine_w[c];
      partial_b[c] = combine_b[c];
    }
}

void cuda_layernorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y, const Tensor& mean,
                    const Tensor& rstd) {
  DeviceScope scope(y);
  const int64_t rows = x.size(0), cols = x.size(1);
  if (rows == 0 || cols == 0) return;
  visit_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    auto launch = [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, row_tile_vectors<VEC>()>(rows, cols, "layer_norm");
      layernorm_rows_kernel<T, VEC><<<row_grid(l, sizeof(T) == 2), l.threads, 0, current_stream()>>>(
          static_cast<const T*>(x.data_ptr()), static_cast<const T*>(w.data_ptr()), static_cast<const T*>(b.data_ptr()),
          static_cast<T*>(y.data_ptr()), static_cast<float*>(mean.data_ptr()), static_cast<float*>(rstd.data_ptr()), l,
          eps);
    };
    if (rows_vectorizable<T>(cols, {x.data_ptr(), w.data_ptr(), b.data_ptr(), y.data_ptr()}))
      launch(std::integral_constant<int, 16 / sizeof(T)>{});
    else
      launch(std::integral_constant<int, 1>{});
    CORTEX_CUDA_CHECK_LAUNCH("layer_norm");
  });
}

void cuda_layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, const Tensor& gy,
                             const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  DeviceScope scope(gx);
  const int64_t rows = x.size(0), cols = x.size(1);
  if (cols == 0) return;
  visit_floating(x.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = stat_t<T>;
    auto launch = [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, row_tile_vectors_backward<VEC>()>(rows, cols, "layer_norm_backward");
      const unsigned grid = row_grid(l, true);
      const int64_t groups = grid;  // one partial row per block
      Tensor partial = empty({2 * groups, cols}, std::is_same_v<A, double> ? DType::f64 : DType::f32, x.device());
      A* pp = static_cast<A*>(partial.data_ptr());
      layernorm_grad_rows_kernel<T, VEC><<<grid, l.threads, 0, current_stream()>>>(
          static_cast<const T*>(x.data_ptr()), static_cast<const T*>(w.data_ptr()),
          static_cast<const float*>(mean.data_ptr()), static_cast<const float*>(rstd.data_ptr()),
          static_cast<const T*>(gy.data_ptr()), static_cast<T*>(gx.data_ptr()), pp, groups, l);
      CORTEX_CUDA_CHECK_LAUNCH("layer_norm_backward");
      const unsigned col_blocks = static_cast<unsigned>(ceil_div(cols, 256));
      column_partials_kernel<T, A><<<col_blocks, 256, 0, current_stream()>>>(pp, static_cast<int>(groups),
                                                                              static_cast<int>(cols),
                                                                              static_cast<T*>(gw.data_ptr()));
      column_partials_kernel<T, A><<<col_blocks, 256, 0, current_stream()>>>(pp + groups * cols, static_cast<int>(groups),
                                                                              static_cast<int>(cols),
                                                                              static_cast<T*>(gb.data_ptr()));
      CORTEX_CUDA_CHECK_LAUNCH("layer_norm_backward (weight and bias gradients)");
    };
    if (rows_vectorizable<T>(cols, {x.data_ptr(), w.data_ptr(), gy.data_ptr(), gx.data_ptr()}))
      launch(std::integral_constant<int, 16 / sizeof(T)>{});
    else
      launch(std::integral_constant<int, 1>{});
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(layernorm_kernel, CUDA, cuda_layernorm);
CORTEX_REGISTER_KERNEL(layernorm_backward_kernel, CUDA, cuda_layernorm_backward);

}  // namespace cortex::cuda
