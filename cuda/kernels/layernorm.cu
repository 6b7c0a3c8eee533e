// CUDA layernorm_kernel / layernorm_backward_kernel over contiguous rows [R, C] (the row
// machinery is in row_kernel.cuh).
//   y = (x - mean) * rstd * w + b, with the variance taken around the mean (two passes
//   over the values held in registers, as the CPU kernel does in f64)
//   xhat = (x - mean) * rstd, gh = gy * w:
//   gx = rstd * (gh - mean(gh) - xhat * mean(gh * xhat)); gw = sum_rows(gy * xhat); gb = sum_rows(gy)
// Statistics in f32 (f64 for f64); weight and bias gradients deterministic: per-block
// partial rows, then a second kernel over them, both in a fixed order (ColumnSums).
#include "cuda/kernels/row_kernel.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

// gy * w rounded on its own (never fused into a following add), so that both passes of the
// backward see the same value and mean(gh) cancels gh exactly where it should.
__device__ __forceinline__ float mul_rn(float a, float b) { return __fmul_rn(a, b); }
__device__ __forceinline__ double mul_rn(double a, double b) { return __dmul_rn(a, b); }

// kOneTile: the row stays in registers between the passes; otherwise it is re-read. No
// 64-register cap (row_min_blocks): x is held across two reductions, then with w and b
// (about 80 registers in f32; spills at 64).
template <typename T, int VEC, bool kOneTile>
__global__ void __launch_bounds__(kMaxRowGroup)
    layernorm_rows_kernel(const T* x, const T* w, const T* b, T* y, float* mean, float* rstd, RowLayout l, double eps) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, forward_tile_vectors<VEC>()>;
  __shared__ A scratch[kRowScratch];
  for_each_row(l, [&](int64_t row, bool active, int lane) {
    const T* xr = x + row * l.cols;
    Tile tx;
    if (kOneTile && active) tx.load(xr, l, 0, lane);
    A s = 0;
    for (int tile = 0; active && tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) tx.load(xr, l, tile, lane);
      Tile::for_each(l, tile, lane, [&](int i, int j) { s += tx.template get<A>(i, j); });
    }
    const A mu = row_reduce(s, SumOp{}, l, scratch) / A(l.cols);
    A ss = 0;
    for (int tile = 0; active && tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) tx.load(xr, l, tile, lane);
      Tile::for_each(l, tile, lane, [&](int i, int j) {
        const A d = tx.template get<A>(i, j) - mu;
        ss += d * d;
      });
    }
    ss = row_reduce(ss, SumOp{}, l, scratch);
    if (!active) return;
    const A r = stat_rsqrt(ss / A(l.cols) + A(eps));
    if (lane == 0) {
      mean[row] = static_cast<float>(mu);
      rstd[row] = static_cast<float>(r);
    }
    T* yr = y + row * l.cols;
    Tile tw, tb;  // read per row (from L1), after the reductions: fewer registers held across them
    for (int tile = 0; tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) tx.load(xr, l, tile, lane);
      tw.load(w, l, tile, lane);
      tb.load(b, l, tile, lane);
      Tile::store(yr, l, tile, lane, [&](int i, int j) {
        return (tx.template get<A>(i, j) - mu) * r * tw.template get<A>(i, j) + tb.template get<A>(i, j);
      });
    }
  });
}

// gx, and partial[blockIdx.x][c] / partial[gridDim.x + blockIdx.x][c] = the block's sums
// of gy * xhat and of gy over its rows.
template <typename T, int VEC, bool kOneTile>
__global__ void __launch_bounds__(kPartialBlock, partial_min_blocks<T>())
    layernorm_grad_rows_kernel(const T* x, const T* w, const float* mean, const float* rstd, const T* gy, T* gx,
                               stat_t<T>* partial, RowLayout l) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, backward_tile_vectors<VEC>()>;
  using Sums = ColumnSums<A, Tile, kOneTile>;
  __shared__ Pair<A> scratch[kRowScratch];
  __shared__ A buffer[Sums::kBufferSize];
  Sums gw(l, partial, threadIdx.x % l.group);
  Sums gb(l, partial + static_cast<int64_t>(gridDim.x) * l.cols, threadIdx.x % l.group);
  using Row = GradRowTiles<T, Tile, kOneTile>;
  Tile tw = Row::weights(w, l);
  for_each_row(l, [&](int64_t row, bool active, int lane) {
    const A mu = active ? A(mean[row]) : A(0), r = active ? A(rstd[row]) : A(0);
    Row t(x + row * l.cols, gy + row * l.cols, w, tw, active, l, lane);
    Pair<A> sums{0, 0};  // sum(gh), sum(gh * xhat)
    if (active)
      t.for_each_tile(l, lane, [&](int tile) {
        Tile::for_each(l, tile, lane, [&](int i, int j) {
          const A gh = mul_rn(t.g.template get<A>(i, j), t.w.template get<A>(i, j));
          sums.a += gh;
          sums.b += gh * ((t.x.template get<A>(i, j) - mu) * r);
        });
      });
    sums = row_reduce(sums, SumOp{}, l, scratch);
    if (!active) return;
    const A mean_g = sums.a / A(l.cols), mean_gx = sums.b / A(l.cols);
    T* out = gx + row * l.cols;
    t.for_each_tile(l, lane, [&](int tile) {
      Tile::store(out, l, tile, lane, [&](int i, int j) {
        const A g = t.g.template get<A>(i, j);
        const A xhat = (t.x.template get<A>(i, j) - mu) * r;
        gw.add(l, tile, i, j, lane, g * xhat);
        gb.add(l, tile, i, j, lane, g);
        return r * (mul_rn(g, t.w.template get<A>(i, j)) - mean_g - xhat * mean_gx);
      });
    });
  });
  gw.finish(l, buffer);
  gb.finish(l, buffer);
}

void cuda_layernorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y, const Tensor& mean,
                    const Tensor& rstd) {
  DeviceScope scope(y);
  const int64_t rows = x.size(0), cols = x.size(1);
  if (rows == 0 || cols == 0) return;
  visit_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    const T* pb = static_cast<const T*>(b.data_ptr());
    T* py = static_cast<T*>(y.data_ptr());
    float* pm = static_cast<float*>(mean.data_ptr());
    float* pr = static_cast<float*>(rstd.data_ptr());
    with_row_vector_width<T>(cols, {px, pw, pb, py}, [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, forward_tile_vectors<VEC>()>(rows, cols, "layer_norm", kWarpRowsBlock, false);
      const unsigned grid = row_grid(l);
      if (l.tiles == 1)
        layernorm_rows_kernel<T, VEC, true><<<grid, l.threads, 0, current_stream()>>>(px, pw, pb, py, pm, pr, l, eps);
      else
        layernorm_rows_kernel<T, VEC, false><<<grid, l.threads, 0, current_stream()>>>(px, pw, pb, py, pm, pr, l, eps);
    });
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
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    const T* pg = static_cast<const T*>(gy.data_ptr());
    const float* pm = static_cast<const float*>(mean.data_ptr());
    const float* pr = static_cast<const float*>(rstd.data_ptr());
    T* pgx = static_cast<T*>(gx.data_ptr());
    with_row_vector_width<T>(cols, {px, pw, pg, pgx}, [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l =
          plan_rows<VEC, backward_tile_vectors<VEC>()>(rows, cols, "layer_norm_backward", kPartialBlock, true);
      auto run = [&](auto kernel_tag) {
        constexpr auto kernel = decltype(kernel_tag)::value;
        const unsigned grid = partial_grid<kernel>(l);
        const Tensor partial = column_partials<A>(2, grid, cols, x.device());
        A* pp = static_cast<A*>(partial.data_ptr());
        kernel<<<grid, l.threads, 0, current_stream()>>>(px, pw, pm, pr, pg, pgx, pp, l);
        CORTEX_CUDA_CHECK_LAUNCH("layer_norm_backward");
        sum_column_partials<T, A>(partial, grid, cols, static_cast<T*>(gw.data_ptr()), static_cast<T*>(gb.data_ptr()),
                                  "layer_norm_backward (weight and bias gradients)");
      };
      if (l.tiles == 1) run(kernel_constant<layernorm_grad_rows_kernel<T, VEC, true>>{});
      else run(kernel_constant<layernorm_grad_rows_kernel<T, VEC, false>>{});
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(layernorm_kernel, CUDA, cuda_layernorm);
CORTEX_REGISTER_KERNEL(layernorm_backward_kernel, CUDA, cuda_layernorm_backward);

}  // namespace cortex::cuda
