// CUDA layernorm_kernel / layernorm_backward_kernel over contiguous rows [R, C].
//   y = (x - mean) * rstd * w + b, with the variance taken around the mean (two passes
//   over the values held in registers, as the CPU kernel does in f64)
//   xhat = (x - mean) * rstd, gh = gy * w:
//   gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)); gw = sum_rows(gy * xhat); gb = sum_rows(gy)
// Statistics in f32 (f64 for f64); weight and bias gradients via per-group partial rows
// summed in order by a second kernel (deterministic, no atomics).
#include "cuda/kernels/row_tiles.cuh"
#include "engine/factory.h"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

template <typename T, int VEC>
__global__ void __launch_bounds__(kMaxRowGroup) layernorm_rows_kernel(const T* x, const T* w, const T* b, T* y, float* mean, float* rstd,
                                      RowLayout l, double eps) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC>;
  constexpr int K = Tile::K;
  __shared__ A scratch[32];
  const int lane = threadIdx.x % l.group;
  const int per_block = l.rows_per_block();
  Tile tw, tb;
  if (l.tiles == 1) {
    tw.load(w, l, 0, lane);
    tb.load(b, l, 0, lane);
  }
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < l.rows;
       base += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t row = base + threadIdx.x / l.group;
    const bool active = row < l.rows;
    const T* xr = x + row * l.cols;
    Tile tx;
    A s = 0;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (!active) break;
      tx.load(xr, l, tile, lane);
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
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (l.tiles > 1) {
        tx.load(xr, l, tile, lane);
        tw.load(w, l, tile, lane);
        tb.load(b, l, tile, lane);
      }
#pragma unroll
      for (int i = 0; i < K; ++i) {
        if (!Tile::valid(l, tile, i, lane)) continue;
        Vec<T, VEC> o;
#pragma unroll
        for (int j = 0; j < VEC; ++j)
          o.v[j] = convert<T>((tx.template get<A>(i, j) - mu) * r * tw.template get<A>(i, j) + tb.template get<A>(i, j));
        store_vec<VEC>(yr + Tile::vec_index(l, tile, i, lane) * VEC, o);
      }
    }
  }
}

// partial[g][c] and partial[groups + g][c] get group g's sums of gy * xhat and of gy.
template <typename T, int VEC>
__global__ void __launch_bounds__(kMaxRowGroup) layernorm_grad_rows_kernel(const T* x, const T* w, const float* mean, const float* rstd, const T* gy,
                                           T* gx, stat_t<T>* partial, int64_t groups, RowLayout l) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC>;
  constexpr int K = Tile::K;
  __shared__ Pair<A> scratch[32];
  const int lane = threadIdx.x % l.group;
  const int per_block = l.rows_per_block();
  const int64_t group_id = static_cast<int64_t>(blockIdx.x) * per_block + threadIdx.x / l.group;
  A* partial_w = partial + group_id * l.cols;
  A* partial_b = partial + (groups + group_id) * l.cols;
  Tile tw;
  A gw[K][VEC] = {}, gb[K][VEC] = {};  // this thread's partial columns, when the row is one tile
  if (l.tiles == 1) tw.load(w, l, 0, lane);
  for (int tile = 0; tile < l.tiles && l.tiles > 1; ++tile)  // zeroed by the threads that will add to it
#pragma unroll
    for (int i = 0; i < K; ++i)
      if (Tile::valid(l, tile, i, lane))
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const int c = Tile::vec_index(l, tile, i, lane) * VEC + j;
          partial_w[c] = 0;
          partial_b[c] = 0;
        }
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < l.rows;
       base += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t row = base + threadIdx.x / l.group;
    const bool active = row < l.rows;
    const T* xr = x + row * l.cols;
    const T* gr = gy + row * l.cols;
    const A mu = active ? A(mean[row]) : A(0), r = active ? A(rstd[row]) : A(0);
    Tile tx, tg;
    Pair<A> sums{0, 0};  // sum(gh), sum(gh * xhat)
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (!active) break;
      tx.load(xr, l, tile, lane);
      tg.load(gr, l, tile, lane);
      if (l.tiles > 1) tw.load(w, l, tile, lane);
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, tile, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j) {
            const A gh = tg.template get<A>(i, j) * tw.template get<A>(i, j);
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
          o.v[j] = convert<T>(r * (g * tw.template get<A>(i, j) - mean_g - xhat * mean_gx));
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
  if (l.tiles == 1)
#pragma unroll
    for (int i = 0; i < K; ++i)
      if (Tile::valid(l, 0, i, lane))
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const int c = Tile::vec_index(l, 0, i, lane) * VEC + j;
          partial_w[c] = gw[i][j];
          partial_b[c] = gb[i][j];
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
      const RowLayout l = plan_rows<VEC>(rows, cols, "layer_norm");
      layernorm_rows_kernel<T, VEC><<<row_grid(l, false), l.threads, 0, current_stream()>>>(
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
      const RowLayout l = plan_rows<VEC>(rows, cols, "layer_norm_backward");
      const unsigned grid = row_grid(l, true);
      const int64_t groups = int64_t{grid} * l.rows_per_block();
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
