// CUDA softmax_kernel / softmax_backward_kernel over the last dim of contiguous rows (the
// row machinery is in row_kernel.cuh). Forward: online softmax, one pass for the running
// max and the sum of exponentials (merged across threads as (max, sum) pairs), then one
// pass writing the output from the values held in registers. Statistics in f32 (f64 for
// f64).
#include <limits>

#include "cuda/kernels/row_kernel.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

template <typename A>
struct MaxSum {
  A max, sum;
};

template <typename A>
__device__ __forceinline__ MaxSum<A> shfl_xor(MaxSum<A> v, int offset) {
  return {__shfl_xor_sync(kFullMask, v.max, offset), __shfl_xor_sync(kFullMask, v.sum, offset)};
}

// exp(from - to) for to >= from, exactly 1 when equal (also for two -infs).
template <typename A>
__device__ __forceinline__ A rescale(A from, A to) {
  return from == to ? A(1) : stat_exp(from - to);
}

struct MergeMaxSum {
  template <typename A>
  __device__ __forceinline__ MaxSum<A> operator()(MaxSum<A> a, MaxSum<A> b) const {
    const A m = b.max > a.max ? b.max : a.max;
    return {m, a.sum * rescale(a.max, m) + b.sum * rescale(b.max, m)};
  }
};

// kOneTile: the row stays in registers between the passes; otherwise it is re-read.
template <typename T, int VEC, bool kOneTile>
__global__ void __launch_bounds__(kMaxRowGroup, row_min_blocks<T>()) softmax_rows_kernel(const T* x, T* y, RowLayout l, bool log_output) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, forward_tile_vectors<VEC>()>;
  __shared__ MaxSum<A> scratch[kRowScratch];
  for_each_row(l, [&](int64_t row, bool active, int lane) {
    const T* xr = x + row * l.cols;
    Tile t;
    if (kOneTile && active) t.load(xr, l, 0, lane);
    MaxSum<A> st{-std::numeric_limits<A>::infinity(), A(0)};
    for (int tile = 0; active && tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) t.load(xr, l, tile, lane);
      A m = st.max;
      Tile::for_each(l, tile, lane, [&](int i, int j) {
        const A v = t.template get<A>(i, j);
        m = v > m ? v : m;
      });
      A s = st.sum * rescale(st.max, m);
      Tile::for_each(l, tile, lane, [&](int i, int j) { s += stat_exp(t.template get<A>(i, j) - m); });
      st = {m, s};
    }
    st = row_reduce(st, MergeMaxSum{}, l, scratch);
    if (!active) return;
    const A inv = A(1) / st.sum;
    const A lse = st.max + log(st.sum);
    T* yr = y + row * l.cols;
    for (int tile = 0; tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) t.load(xr, l, tile, lane);
      if (log_output) Tile::store(yr, l, tile, lane, [&](int i, int j) { return t.template get<A>(i, j) - lse; });
      else Tile::store(yr, l, tile, lane, [&](int i, int j) { return stat_exp(t.template get<A>(i, j) - st.max) * inv; });
    }
  });
}

// softmax:     gx = y * (gy - sum(gy * y))
// log_softmax: gx = gy - exp(y) * sum(gy)
template <typename T, int VEC, bool kOneTile>
__global__ void __launch_bounds__(kMaxRowGroup, row_min_blocks<T>())
    softmax_grad_rows_kernel(const T* y, const T* gy, T* gx, RowLayout l, bool log_output) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, backward_tile_vectors<VEC>()>;
  __shared__ A scratch[kRowScratch];
  for_each_row(l, [&](int64_t row, bool active, int lane) {
    const T* yr = y + row * l.cols;
    const T* gr = gy + row * l.cols;
    Tile ty, tg;
    if (kOneTile && active) {
      ty.load(yr, l, 0, lane);
      tg.load(gr, l, 0, lane);
    }
    A s = 0;
    for (int tile = 0; active && tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) {
        tg.load(gr, l, tile, lane);
        if (!log_output) ty.load(yr, l, tile, lane);
      }
      Tile::for_each(l, tile, lane, [&](int i, int j) {
        s += log_output ? tg.template get<A>(i, j) : tg.template get<A>(i, j) * ty.template get<A>(i, j);
      });
    }
    s = row_reduce(s, SumOp{}, l, scratch);
    if (!active) return;
    T* out = gx + row * l.cols;
    for (int tile = 0; tile < tile_count<kOneTile>(l); ++tile) {
      if (!kOneTile) {
        tg.load(gr, l, tile, lane);
        ty.load(yr, l, tile, lane);
      }
      Tile::store(out, l, tile, lane, [&](int i, int j) {
        const A yv = ty.template get<A>(i, j), g = tg.template get<A>(i, j);
        return log_output ? g - stat_exp(yv) * s : yv * (g - s);
      });
    }
  });
}

void cuda_softmax(const Tensor& x, const Tensor& out, bool log) {
  DeviceScope scope(out);
  const int64_t cols = x.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  if (x.numel() == 0) return;
  visit_floating(x.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    with_row_vector_width<T>(cols, {px, po}, [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, forward_tile_vectors<VEC>()>(rows, cols, "softmax", kWarpRowsBlock, false);
      const unsigned grid = row_grid(l);
      if (l.tiles == 1) softmax_rows_kernel<T, VEC, true><<<grid, l.threads, 0, current_stream()>>>(px, po, l, log);
      else softmax_rows_kernel<T, VEC, false><<<grid, l.threads, 0, current_stream()>>>(px, po, l, log);
    });
    CORTEX_CUDA_CHECK_LAUNCH("softmax");
  });
}

void cuda_softmax_backward(const Tensor& y, const Tensor& gy, const Tensor& gx, bool log) {
  DeviceScope scope(gx);
  const int64_t cols = y.size(-1), rows = y.numel() / std::max<int64_t>(cols, 1);
  if (y.numel() == 0) return;
  visit_floating(y.dtype(), "softmax_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* py = static_cast<const T*>(y.data_ptr());
    const T* pg = static_cast<const T*>(gy.data_ptr());
    T* po = static_cast<T*>(gx.data_ptr());
    with_row_vector_width<T>(cols, {py, pg, po}, [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l =
          plan_rows<VEC, backward_tile_vectors<VEC>()>(rows, cols, "softmax_backward", kWarpRowsBlock, false);
      const unsigned grid = row_grid(l);
      if (l.tiles == 1) softmax_grad_rows_kernel<T, VEC, true><<<grid, l.threads, 0, current_stream()>>>(py, pg, po, l, log);
      else softmax_grad_rows_kernel<T, VEC, false><<<grid, l.threads, 0, current_stream()>>>(py, pg, po, l, log);
    });
    CORTEX_CUDA_CHECK_LAUNCH("softmax_backward");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(softmax_kernel, CUDA, cuda_softmax);
CORTEX_REGISTER_KERNEL(softmax_backward_kernel, CUDA, cuda_softmax_backward);

}  // namespace cortex::cuda
