// CUDA rmsnorm_kernel / rmsnorm_backward_kernel over contiguous rows [R, C] (the row
// machinery is in row_kernel.cuh).
//   y = x * rstd * w,  rstd = 1 / sqrt(mean(x^2) + eps)
//   gx = rstd * w * gy - x * rstd^3 / C * sum(w * gy * x),  gw = sum_rows(gy * x * rstd)
// Statistics in f32 (f64 for f64). The weight gradient is deterministic: per-block partial
// rows, then a second kernel over them, both in a fixed order (ColumnSums).
#include "cuda/kernels/row_kernel.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

// kOneTile: the row stays in registers between the passes; otherwise it is re-read.
template <typename T, int VEC, bool kOneTile>
__global__ void __launch_bounds__(kMaxRowGroup, row_min_blocks<T>())
    rmsnorm_rows_kernel(const T* x, const T* w, T* y, float* rstd, RowLayout l, double eps) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, forward_tile_vectors<VEC>()>;
  __shared__ A scratch[kRowScratch];
  for_each_row(l, [&](int64_t row, bool active, int lane) {
    const T* xr = x + row * l.cols;
    Tile tx;
    if (kOneTile && active) tx.load(xr, l, 0, lane);
    A ss = 0;
    for (int tile = 0; active && tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) tx.load(xr, l, tile, lane);
      Tile::for_each(l, tile, lane, [&](int i, int j) {
        const A v = tx.template get<A>(i, j);
        ss += v * v;
      });
    }
    ss = row_reduce(ss, SumOp{}, l, scratch);
    if (!active) return;
    const A r = stat_rsqrt(ss / A(l.cols) + A(eps));
    if (lane == 0) rstd[row] = static_cast<float>(r);
    T* yr = y + row * l.cols;
    Tile tw;  // w is read per row (from L1), after the reduction: fewer registers held across it
    for (int tile = 0; tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) tx.load(xr, l, tile, lane);
      tw.load(w, l, tile, lane);
      Tile::store(yr, l, tile, lane,
                  [&](int i, int j) { return tx.template get<A>(i, j) * r * tw.template get<A>(i, j); });
    }
  });
}

// gx, and partial[blockIdx.x][c] = the block's sum of gy * x * rstd over its rows.
template <typename T, int VEC, bool kOneTile>
__global__ void __launch_bounds__(kPartialBlock, partial_min_blocks<T>())
    rmsnorm_grad_rows_kernel(const T* x, const T* w, const float* rstd, const T* gy, T* gx, stat_t<T>* partial,
                             RowLayout l) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, backward_tile_vectors<VEC>()>;
  using Sums = ColumnSums<A, Tile, kOneTile>;
  __shared__ A scratch[kRowScratch];
  __shared__ A buffer[Sums::kBufferSize];
  Sums gw(l, partial, threadIdx.x % l.group);
  using Row = GradRowTiles<T, Tile, kOneTile>;
  Tile tw = Row::weights(w, l);
  for_each_row(l, [&](int64_t row, bool active, int lane) {
    Row t(x + row * l.cols, gy + row * l.cols, w, tw, active, l, lane);
    A dot = 0;
    if (active)
      t.for_each_tile(l, lane, [&](int tile) {
        Tile::for_each(l, tile, lane, [&](int i, int j) {
          dot += t.g.template get<A>(i, j) * t.w.template get<A>(i, j) * t.x.template get<A>(i, j);
        });
      });
    dot = row_reduce(dot, SumOp{}, l, scratch);
    if (!active) return;
    const A r = rstd[row];
    const A k = r * r * r * dot / A(l.cols);
    T* out = gx + row * l.cols;
    t.for_each_tile(l, lane, [&](int tile) {
      Tile::store(out, l, tile, lane, [&](int i, int j) {
        const A xv = t.x.template get<A>(i, j), g = t.g.template get<A>(i, j);
        gw.add(l, tile, i, j, lane, g * xv * r);
        return r * t.w.template get<A>(i, j) * g - xv * k;
      });
    });
  });
  gw.finish(l, buffer);
}

void cuda_rmsnorm(const Tensor& x, const Tensor& w, double eps, const Tensor& y, const Tensor& rstd) {
  DeviceScope scope(y);
  const int64_t rows = x.size(0), cols = x.size(1);
  if (rows == 0 || cols == 0) return;
  visit_floating(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    T* py = static_cast<T*>(y.data_ptr());
    float* pr = static_cast<float*>(rstd.data_ptr());
    with_row_vector_width<T>(cols, {px, pw, py}, [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, forward_tile_vectors<VEC>()>(rows, cols, "rms_norm", kWarpRowsBlock, false);
      const unsigned grid = row_grid(l);
      if (l.tiles == 1) rmsnorm_rows_kernel<T, VEC, true><<<grid, l.threads, 0, current_stream()>>>(px, pw, py, pr, l, eps);
      else rmsnorm_rows_kernel<T, VEC, false><<<grid, l.threads, 0, current_stream()>>>(px, pw, py, pr, l, eps);
    });
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
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    const T* pg = static_cast<const T*>(gy.data_ptr());
    const float* pr = static_cast<const float*>(rstd.data_ptr());
    T* pgx = static_cast<T*>(gx.data_ptr());
    with_row_vector_width<T>(cols, {px, pw, pg, pgx}, [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l =
          plan_rows<VEC, backward_tile_vectors<VEC>()>(rows, cols, "rms_norm_backward", kPartialBlock, true);
      auto run = [&](auto kernel_tag) {
        constexpr auto kernel = decltype(kernel_tag)::value;
        const unsigned grid = partial_grid<kernel>(l);
        const Tensor partial = column_partials<A>(1, grid, cols, x.device());
        A* pp = static_cast<A*>(partial.data_ptr());
        kernel<<<grid, l.threads, 0, current_stream()>>>(px, pw, pr, pg, pgx, pp, l);
        CORTEX_CUDA_CHECK_LAUNCH("rms_norm_backward");
        sum_column_partials<T, A>(partial, grid, cols, static_cast<T*>(gw.data_ptr()), nullptr,
                                  "rms_norm_backward (weight gradient)");
      };
      if (l.tiles == 1) run(kernel_constant<rmsnorm_grad_rows_kernel<T, VEC, true>>{});
      else run(kernel_constant<rmsnorm_grad_rows_kernel<T, VEC, false>>{});
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(rmsnorm_kernel, CUDA, cuda_rmsnorm);
CORTEX_REGISTER_KERNEL(rmsnorm_backward_kernel, CUDA, cuda_rmsnorm_backward);

}  // namespace cortex::cuda
