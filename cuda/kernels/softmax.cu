// CUDA softmax_kernel / softmax_backward_kernel over the last dim of contiguous rows.
// Forward: online softmax, one pass for the running max and the sum of exponentials
// (merged across threads as (max, sum) pairs), then one pass writing the output from the
// values still held in registers. Statistics in f32 (f64 for f64).
#include <limits>

#include "cuda/kernels/row_tiles.cuh"
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

template <typename T, int VEC>
__global__ void __launch_bounds__(kMaxRowGroup) softmax_rows_kernel(const T* x, T* y, RowLayout l, bool log_output) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, row_tile_vectors<VEC>()>;
  constexpr int K = Tile::K;
  __shared__ MaxSum<A> scratch[32];
  const int lane = threadIdx.x % l.group;
  const int per_block = l.rows_per_block();
  const int64_t step = static_cast<int64_t>(gridDim.x) * per_block;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * per_block + threadIdx.x / l.group;
  RowPrefetch<Tile, T> t_next;
  t_next.start(x, l, first, lane);
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < l.rows;
       base += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t row = base + threadIdx.x / l.group;
    const bool active = row < l.rows;
    const T* xr = x + row * l.cols;
    Tile t;
    if (l.tiles == 1 && active) {
      t_next.take(t, x, l, row, step, lane);
    }
    MaxSum<A> st{-std::numeric_limits<A>::infinity(), A(0)};
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (!active) break;
      if (l.tiles > 1) t.load(xr, l, tile, lane);
      A m = st.max;
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, tile, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j) {
            const A v = t.template get<A>(i, j);
            m = v > m ? v : m;
          }
      A s = st.sum * rescale(st.max, m);
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, tile, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j) s += stat_exp(t.template get<A>(i, j) - m);
      st = {m, s};
    }
    st = group_reduce(st, MergeMaxSum{}, l.group, scratch);
    if (!active) continue;
    const A inv = A(1) / st.sum;
    const A lse = st.max + log(st.sum);
    T* yr = y + row * l.cols;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (l.tiles > 1) t.load(xr, l, tile, lane);
#pragma unroll
      for (int i = 0; i < K; ++i) {
        if (!Tile::valid(l, tile, i, lane)) continue;
        Vec<T, VEC> o;
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const A v = t.template get<A>(i, j);
          o.v[j] = dconvert<T>(log_output ? v - lse : stat_exp(v - st.max) * inv);
        }
        store_vec<VEC>(yr + Tile::vec_index(l, tile, i, lane) * VEC, o);
      }
    }
  }
}

// softmax:     gx = y * (gy - sum(gy * y))
// log_softmax: gx = gy - exp(y) * sum(gy)
template <typename T, int VEC>
__global__ void __launch_bounds__(kMaxRowGroup) softmax_grad_rows_kernel(const T* y, const T* gy, T* gx, RowLayout l, bool log_output) {
  using A = stat_t<T>;
  using Tile = RowTile<T, VEC, row_tile_vectors_backward<VEC>()>;
  constexpr int K = Tile::K;
  __shared__ A scratch[32];
  const int lane = threadIdx.x % l.group;
  const int per_block = l.rows_per_block();
  const int64_t step = static_cast<int64_t>(gridDim.x) * per_block;
  const int64_t first = static_cast<int64_t>(blockIdx.x) * per_block + threadIdx.x / l.group;
  RowPrefetch<Tile, T> ty_next;
  ty_next.start(y, l, first, lane);
  RowPrefetch<Tile, T> tg_next;
  tg_next.start(gy, l, first, lane);
  for (int64_t base = static_cast<int64_t>(blockIdx.x) * per_block; base < l.rows;
       base += static_cast<int64_t>(gridDim.x) * per_block) {
    const int64_t row = base + threadIdx.x / l.group;
    const bool active = row < l.rows;
    const T* yr = y + row * l.cols;
    const T* gr = gy + row * l.cols;
    Tile ty, tg;
    if (l.tiles == 1 && active) {
      ty_next.take(ty, y, l, row, step, lane);
      tg_next.take(tg, gy, l, row, step, lane);
    }
    A s = 0;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (!active) break;
      if (l.tiles > 1) {
        tg.load(gr, l, tile, lane);
        if (!log_output) ty.load(yr, l, tile, lane);
      }
#pragma unroll
      for (int i = 0; i < K; ++i)
        if (Tile::valid(l, tile, i, lane))
#pragma unroll
          for (int j = 0; j < VEC; ++j)
            s += log_output ? tg.template get<A>(i, j) : tg.template get<A>(i, j) * ty.template get<A>(i, j);
    }
    s = group_reduce(s, SumOp{}, l.group, scratch);
    if (!active) continue;
    T* out = gx + row * l.cols;
    for (int tile = 0; tile < l.tiles; ++tile) {
      if (l.tiles > 1) {
        tg.load(gr, l, tile, lane);
        ty.load(yr, l, tile, lane);
      }
#pragma unroll
      for (int i = 0; i < K; ++i) {
        if (!Tile::valid(l, tile, i, lane)) continue;
        Vec<T, VEC> o;
#pragma unroll
        for (int j = 0; j < VEC; ++j) {
          const A yv = ty.template get<A>(i, j), g = tg.template get<A>(i, j);
          o.v[j] = dconvert<T>(log_output ? g - stat_exp(yv) * s : yv * (g - s));
        }
        store_vec<VEC>(out + Tile::vec_index(l, tile, i, lane) * VEC, o);
      }
    }
  }
}

void cuda_softmax(const Tensor& x, const Tensor& out, bool log) {
  DeviceScope scope(out);
  const int64_t cols = x.size(-1), rows = x.numel() / std::max<int64_t>(cols, 1);
  if (x.numel() == 0) return;
  visit_floating(x.dtype(), "softmax", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    auto launch = [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, row_tile_vectors<VEC>()>(rows, cols, "softmax");
      softmax_rows_kernel<T, VEC><<<row_grid(l, sizeof(T) == 2), l.threads, 0, current_stream()>>>(px, po, l, log);
    };
    if (rows_vectorizable<T>(cols, {px, po})) launch(std::integral_constant<int, 16 / sizeof(T)>{});
    else launch(std::integral_constant<int, 1>{});
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
    auto launch = [&](auto vec) {
      constexpr int VEC = decltype(vec)::value;
      const RowLayout l = plan_rows<VEC, row_tile_vectors_backward<VEC>()>(rows, cols, "softmax_backward");
      softmax_grad_rows_kernel<T, VEC><<<row_grid(l, sizeof(T) == 2), l.threads, 0, current_stream()>>>(py, pg, po, l, log);
    };
    if (rows_vectorizable<T>(cols, {py, pg, po})) launch(std::integral_constant<int, 16 / sizeof(T)>{});
    else launch(std::integral_constant<int, 1>{});
    CORTEX_CUDA_CHECK_LAUNCH("softmax_backward");
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(softmax_kernel, CUDA, cuda_softmax);
CORTEX_REGISTER_KERNEL(softmax_backward_kernel, CUDA, cuda_softmax_backward);

}  // namespace cortex::cuda
