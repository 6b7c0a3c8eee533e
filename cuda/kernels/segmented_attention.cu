// CUDA segmented_attention_kernel / segmented_attention_backward_kernel: attention over
// packed samples of different lengths in one launch forward and two backward, whatever the
// number of samples (up to kChunkSamples per launch; larger batches take one launch per chunk).
//
// The sample offsets travel in the kernel's parameter block (no host-to-device copy, so the
// calls can be captured in a CUDA graph). Grid: x = tile of rows within the sample, y = sample,
// z = head; blocks past their sample's rows return at once. The inference variant
// (segmented_attention_device_offsets_kernel) runs the same forward with every sample owning
// the same number of queries and the key offsets read from device memory, so a graph
// captured once replays with any packing.
//
// A row (query or key) belongs to TPQ = DP / 32 adjacent threads: thread `part` holds dims
// part, part + TPQ, ... (32 of them), so the TPQ threads read consecutive shared-memory words
// (no bank conflicts) and dot products finish with log2(TPQ) xor-shuffles. K/V (or Q/dO)
// tiles are staged in shared memory as f32. Softmax is online, in the base-2 domain (q is
// pre-scaled by scale * log2(e)); all arithmetic in f32.
//
// Backward (deterministic, no atomics): a query-major kernel computes gq and
// delta_i = sum(gout_i * out_i); a key-major kernel then computes gk and gv by walking its
// sample's queries in order, recomputing P from the saved log-sum-exp.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "cuda/kernels/dense_attention_segmented.h"
#include "cuda/kernels/fast_convert.cuh"
#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/vector_access.cuh"
#include "cuda/stream.h"
#include "engine/factory.h"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kTileKeys = 32;     // keys per shared-memory tile in the query-major kernels
constexpr int kTileQueries = 32;  // queries per tile in the key-major kernel
constexpr int kChunkSamples = 384;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

// Absolute row offsets of up to kChunkSamples samples (kept under the 4 KB parameter limit).
struct SegmentChunk {
  int32_t q[kChunkSamples + 1];
  int32_t k[kChunkSamples + 1];
};
static_assert(sizeof(SegmentChunk) < 4000, "SegmentChunk must fit the kernel parameter block");

struct Shape3 {
  int heads, d;
  bool vec;  // every operand 16-byte aligned and d a multiple of 16 bytes
};

template <typename T>
__device__ __forceinline__ float to_float(T x) {
  if constexpr (std::is_same_v<T, float>) return x;
  else return bits_to_float(x);
}

template <int TPQ>
__device__ __forceinline__ float group_sum(float x) {
#pragma unroll
  for (int o = 1; o < TPQ; o <<= 1) x += __shfl_xor_sync(0xffffffffu, x, o);
  return x;
}

// tile[j][c] = src row (r0 + j), head h, dim c as f32 for j < cnt and c < d; zero elsewhere.
template <typename T, int DP, int R>
__device__ __forceinline__ void load_tile(float (*tile)[DP], const T* src, int64_t r0, int cnt, int h, Shape3 s) {
  if (s.vec) {
    constexpr int V = 16 / sizeof(T);
    constexpr int per_row = DP / V;
    for (int idx = threadIdx.x; idx < R * per_row; idx += kThreads) {
      const int j = idx / per_row, c = (idx % per_row) * V;
      Vec<T, V> x;
      if (j < cnt && c < s.d) {
        x = *reinterpret_cast<const Vec<T, V>*>(src + ((r0 + j) * s.heads + h) * s.d + c);
#pragma unroll
        for (int e = 0; e < V; ++e) tile[j][c + e] = to_float(x.v[e]);
      } else {
#pragma unroll
        for (int e = 0; e < V; ++e) tile[j][c + e] = 0.f;
      }
    }
  } else {
    for (int idx = threadIdx.x; idx < R * DP; idx += kThreads) {
      const int j = idx / DP, c = idx % DP;
      tile[j][c] = j < cnt && c < s.d ? to_float(src[((r0 + j) * s.heads + h) * s.d + c]) : 0.f;
    }
  }
}

// This thread's 32 dims of row `row` (a flat [N * H] row index), times `mul`; zero when !active.
template <typename T, int TPQ>
__device__ __forceinline__ void load_row(float (&r)[32], const T* src, int64_t row, bool active, int part, int d,
                                         float mul) {
#pragma unroll
  for (int c = 0; c < 32; ++c) {
    const int dim = c * TPQ + part;
    r[c] = active && dim < d ? to_float(src[row * d + dim]) * mul : 0.f;
  }
}

template <typename T, int TPQ>
__device__ __forceinline__ void store_row(T* dst, int64_t row, const float (&r)[32], int part, int d, float mul) {
#pragma unroll
  for (int c = 0; c < 32; ++c) {
    const int dim = c * TPQ + part;
    if (dim < d) dst[row * d + dim] = dconvert<T>(r[c] * mul);
  }
}

template <int DP, int TPQ>
__device__ __forceinline__ float row_dot(const float (&r)[32], const float* tile_row, int part) {
  float acc = 0.f;
#pragma unroll
  for (int c = 0; c < 32; ++c) acc = fmaf(r[c], tile_row[c * TPQ + part], acc);
  return group_sum<TPQ>(acc);
}

// Where sample b's rows lie when the host built the offsets: the kernel's parameter block.
struct ChunkRows {
  SegmentChunk seg;
  __device__ __forceinline__ int query_begin(int b) const { return seg.q[b]; }
  __device__ __forceinline__ int query_count(int b) const { return seg.q[b + 1] - seg.q[b]; }
  __device__ __forceinline__ int2 keys(int b) const { return make_int2(seg.k[b], seg.k[b + 1] - seg.k[b]); }
};

// ... and when the key offsets live on the device (graph replays): every sample has
// `per_sample` queries; key offsets are clamped into [0, capacity] and made non-decreasing.
template <typename Off>
struct DeviceKeyRows {
  const Off* k_offsets;
  int per_sample, capacity;
  __device__ __forceinline__ int query_begin(int b) const { return b * per_sample; }
  __device__ __forceinline__ int query_count(int) const { return per_sample; }
  __device__ __forceinline__ int2 keys(int b) const {
    const int lo = clamp_row(k_offsets[b], 0), hi = clamp_row(k_offsets[b + 1], lo);
    return make_int2(lo, hi - lo);
  }
  // x clamped into [floor, capacity].
  __device__ __forceinline__ int clamp_row(Off x, int floor) const {
    return x < static_cast<Off>(floor) ? floor : x > static_cast<Off>(capacity) ? capacity : static_cast<int>(x);
  }
};

// One block: a tile of one sample's query rows for one head. lse may be null (inference).
template <typename T, int DP, typename Rows>
__global__ void __launch_bounds__(kThreads) forward_kernel(const T* q, const T* k, const T* v, T* out, float* lse,
                                                           Rows rows, Shape3 s, float scale_log2) {
  constexpr int TPQ = DP / 32, ROWS = kThreads / TPQ;
  __shared__ float ks[kTileKeys][DP];
  __shared__ float vs[kTileKeys][DP];
  const int b = blockIdx.y, h = blockIdx.z;
  const int q0 = rows.query_begin(b), nq = rows.query_count(b);
  const int first = static_cast<int>(blockIdx.x) * ROWS;
  if (first >= nq) return;  // the whole block: no __syncthreads is skipped by part of it
  const int2 key_rows = rows.keys(b);
  const int k0 = key_rows.x, nk = key_rows.y;
  const int part = threadIdx.x % TPQ, qi = first + threadIdx.x / TPQ;
  const bool active = qi < nq;
  const int64_t row = static_cast<int64_t>(q0 + (active ? qi : 0)) * s.heads + h;
  float qr[32], acc[32];
  load_row<T, TPQ>(qr, q, row, active, part, s.d, scale_log2);
#pragma unroll
  for (int c = 0; c < 32; ++c) acc[c] = 0.f;
  float m = -INFINITY, l = 0.f;
  for (int kt = 0; kt < nk; kt += kTileKeys) {
    const int cnt = min(kTileKeys, nk - kt);
    __syncthreads();  // the previous tile is consumed
    load_tile<T, DP, kTileKeys>(ks, k, k0 + kt, cnt, h, s);
    load_tile<T, DP, kTileKeys>(vs, v, k0 + kt, cnt, h, s);
    __syncthreads();
    float sc[kTileKeys];
    float tile_max = -INFINITY;
#pragma unroll
    for (int j = 0; j < kTileKeys; ++j) {
      const float x = row_dot<DP, TPQ>(qr, ks[j], part);
      sc[j] = j < cnt ? x : -INFINITY;
      tile_max = fmaxf(tile_max, sc[j]);
    }
    const float m_new = fmaxf(m, tile_max);  // finite: the tile has a key
    const float corr = exp2f(m - m_new);     // 0 on the first tile
    l *= corr;
#pragma unroll
    for (int c = 0; c < 32; ++c) acc[c] *= corr;
#pragma unroll
    for (int j = 0; j < kTileKeys; ++j) {
      const float p = exp2f(sc[j] - m_new);  // 0 past the tile's keys
      l += p;
#pragma unroll
      for (int c = 0; c < 32; ++c) acc[c] = fmaf(p, vs[j][c * TPQ + part], acc[c]);
    }
    m = m_new;
  }
  if (!active) return;
  store_row<T, TPQ>(out, row, acc, part, s.d, nk > 0 ? 1.f / l : 0.f);
  if (lse != nullptr && part == 0) lse[row] = nk > 0 ? (m + log2f(l)) * kLn2 : 0.f;
}

// gq_i = scale * sum_j P_ij (gout_i . v_j - delta_i) k_j; also writes delta_i.
template <typename T, int DP>
__global__ void __launch_bounds__(kThreads) grad_q_kernel(const T* q, const T* k, const T* v, const T* out,
                                                          const float* lse, const T* gout, T* gq, float* delta,
                                                          SegmentChunk seg, Shape3 s, float scale, float scale_log2) {
  constexpr int TPQ = DP / 32, ROWS = kThreads / TPQ;
  __shared__ float ks[kTileKeys][DP];
  __shared__ float vs[kTileKeys][DP];
  const int b = blockIdx.y, h = blockIdx.z;
  const int q0 = seg.q[b], nq = seg.q[b + 1] - q0, k0 = seg.k[b], nk = seg.k[b + 1] - k0;
  const int first = static_cast<int>(blockIdx.x) * ROWS;
  if (first >= nq) return;
  const int part = threadIdx.x % TPQ, qi = first + threadIdx.x / TPQ;
  const bool active = qi < nq;
  const int64_t row = static_cast<int64_t>(q0 + (active ? qi : 0)) * s.heads + h;
  float qr[32], gr[32], acc[32];
  load_row<T, TPQ>(gr, gout, row, active, part, s.d, 1.f);
  load_row<T, TPQ>(acc, out, row, active, part, s.d, 1.f);  // out, borrowed for delta
  float dl = 0.f;
#pragma unroll
  for (int c = 0; c < 32; ++c) dl = fmaf(gr[c], acc[c], dl);
  dl = group_sum<TPQ>(dl);
  if (active && part == 0) delta[row] = dl;
  load_row<T, TPQ>(qr, q, row, active, part, s.d, scale_log2);
#pragma unroll
  for (int c = 0; c < 32; ++c) acc[c] = 0.f;
  const float lse2 = active && nk > 0 ? lse[row] * kLog2e : 0.f;
  for (int kt = 0; kt < nk; kt += kTileKeys) {
    const int cnt = min(kTileKeys, nk - kt);
    __syncthreads();
    load_tile<T, DP, kTileKeys>(ks, k, k0 + kt, cnt, h, s);
    load_tile<T, DP, kTileKeys>(vs, v, k0 + kt, cnt, h, s);
    __syncthreads();
#pragma unroll 4
    for (int j = 0; j < cnt; ++j) {
      const float p = exp2f(row_dot<DP, TPQ>(qr, ks[j], part) - lse2);
      const float ds = p * (row_dot<DP, TPQ>(gr, vs[j], part) - dl);
#pragma unroll
      for (int c = 0; c < 32; ++c) acc[c] = fmaf(ds, ks[j][c * TPQ + part], acc[c]);
    }
  }
  if (active) store_row<T, TPQ>(gq, row, acc, part, s.d, scale);
}

// gk_j = scale * sum_i P_ij (gout_i . v_j - delta_i) q_i;  gv_j = sum_i P_ij gout_i.
template <typename T, int DP>
__global__ void __launch_bounds__(kThreads) grad_kv_kernel(const T* q, const T* k, const T* v, const float* lse,
                                                           const T* gout, const float* delta, T* gk, T* gv,
                                                           SegmentChunk seg, Shape3 s, float scale, float scale_log2) {
  constexpr int TPQ = DP / 32, ROWS = kThreads / TPQ;
  __shared__ float qs[kTileQueries][DP];
  __shared__ float gs[kTileQueries][DP];
  __shared__ float lse2s[kTileQueries];
  __shared__ float deltas[kTileQueries];
  const int b = blockIdx.y, h = blockIdx.z;
  const int q0 = seg.q[b], nq = seg.q[b + 1] - q0, k0 = seg.k[b], nk = seg.k[b + 1] - k0;
  const int first = static_cast<int>(blockIdx.x) * ROWS;
  if (first >= nk) return;
  const int part = threadIdx.x % TPQ, kj = first + threadIdx.x / TPQ;
  const bool active = kj < nk;
  const int64_t row = static_cast<int64_t>(k0 + (active ? kj : 0)) * s.heads + h;
  float kr[32], vr[32], ak[32], av[32];
  load_row<T, TPQ>(kr, k, row, active, part, s.d, scale_log2);
  load_row<T, TPQ>(vr, v, row, active, part, s.d, 1.f);
#pragma unroll
  for (int c = 0; c < 32; ++c) ak[c] = av[c] = 0.f;
  for (int qt = 0; qt < nq; qt += kTileQueries) {
    const int cnt = min(kTileQueries, nq - qt);
    __syncthreads();
    load_tile<T, DP, kTileQueries>(qs, q, q0 + qt, cnt, h, s);
    load_tile<T, DP, kTileQueries>(gs, gout, q0 + qt, cnt, h, s);
    if (threadIdx.x < kTileQueries) {
      const int t = static_cast<int>(threadIdx.x);
      const bool in = t < cnt;
      const int64_t qrow = static_cast<int64_t>(q0 + qt + (in ? t : 0)) * s.heads + h;
      lse2s[t] = in ? lse[qrow] * kLog2e : 0.f;
      deltas[t] = in ? delta[qrow] : 0.f;
    }
    __syncthreads();
#pragma unroll 4
    for (int i = 0; i < cnt; ++i) {
      const float p = exp2f(row_dot<DP, TPQ>(kr, qs[i], part) - lse2s[i]);
      const float ds = p * (row_dot<DP, TPQ>(vr, gs[i], part) - deltas[i]);
#pragma unroll
      for (int c = 0; c < 32; ++c) {
        av[c] = fmaf(p, gs[i][c * TPQ + part], av[c]);
        ak[c] = fmaf(ds, qs[i][c * TPQ + part], ak[c]);
      }
    }
  }
  if (!active) return;
  store_row<T, TPQ>(gk, row, ak, part, s.d, scale);
  store_row<T, TPQ>(gv, row, av, part, s.d, 1.f);
}

// The head-dim template covering d: 32, 64 or 128 (the op rejects larger).
template <typename F>
void visit_head_dim(int64_t d, const char* op, F&& f) {
  if (d <= 32) return f(std::integral_constant<int, 32>{});
  if (d <= 64) return f(std::integral_constant<int, 64>{});
  if (d <= 128) return f(std::integral_constant<int, 128>{});
  CORTEX_FAIL(op, "the CUDA kernels take head dims up to 128, got ", d);
}

template <typename F>
void visit_attention_dtype(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(TypeTag<float>{});
    case DType::bf16: return f(TypeTag<bfloat16>{});
    case DType::f16: return f(TypeTag<float16>{});
    default: CORTEX_FAIL(op, "the CUDA kernels take f32, bf16 or f16, got ", dtype_name(t));
  }
}

Shape3 shape_of(const Tensor& q, std::initializer_list<const Tensor*> operands) {
  const int64_t d = q.size(2);
  bool vec = (d * static_cast<int64_t>(dtype_size(q.dtype()))) % 16 == 0;
  for (const Tensor* t : operands) vec = vec && is_aligned(t->data_ptr(), 16);
  return Shape3{static_cast<int>(q.size(1)), static_cast<int>(d), vec};
}

// Calls launch(chunk, first_sample, grid) for each chunk of up to kChunkSamples samples that
// has rows to work on; grid.x covers the longest `rows` segment of the chunk in tiles of `per_block`.
template <typename F>
void for_each_chunk(const std::vector<int64_t>& q_offsets, const std::vector<int64_t>& k_offsets, bool by_keys,
                    int per_block, int heads, F&& launch) {
  const int64_t samples = static_cast<int64_t>(q_offsets.size()) - 1;
  if (heads == 0) return;
  for (int64_t first = 0; first < samples; first += kChunkSamples) {
    const int64_t count = std::min<int64_t>(kChunkSamples, samples - first);
    SegmentChunk chunk{};
    int64_t longest = 0;
    for (int64_t i = 0; i <= count; ++i) {
      chunk.q[i] = static_cast<int32_t>(q_offsets[first + i]);
      chunk.k[i] = static_cast<int32_t>(k_offsets[first + i]);
      if (i > 0) {
        const auto& off = by_keys ? k_offsets : q_offsets;
        longest = std::max(longest, off[first + i] - off[first + i - 1]);
      }
    }
    if (longest == 0) continue;
    launch(chunk, dim3(static_cast<unsigned>(ceil_div(longest, per_block)), static_cast<unsigned>(count),
                       static_cast<unsigned>(heads)));
  }
}

void cuda_segmented_attention(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k,
                              const Tensor& v, const std::vector<int64_t>& k_offsets, double scale, const Tensor& out,
                              const Tensor& lse) {
  constexpr const char* op = "segmented_attention";
  DeviceScope scope(out);
  const Shape3 s = shape_of(q, {&q, &k, &v, &out});
  const float scale_log2 = static_cast<float>(scale) * kLog2e;
  visit_attention_dtype(q.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    visit_head_dim(s.d, op, [&](auto dp) {
      constexpr int DP = decltype(dp)::value;
      for_each_chunk(q_offsets, k_offsets, false, kThreads / (DP / 32), s.heads, [&](const SegmentChunk& c, dim3 grid) {
        forward_kernel<T, DP><<<grid, kThreads, 0, current_stream()>>>(
            static_cast<const T*>(q.data_ptr()), static_cast<const T*>(k.data_ptr()),
            static_cast<const T*>(v.data_ptr()), static_cast<T*>(out.data_ptr()), static_cast<float*>(lse.data_ptr()),
            ChunkRows{c}, s, scale_log2);
        CORTEX_CUDA_CHECK_LAUNCH(op);
      });
    });
  });
}

// One launch for any number of samples (the op allows up to 65535, one grid dim): the grid
// depends only on shapes, so a captured graph replays with whatever offsets the tensor holds.
// 16-bit operands with many queries a sample go to the flash kernel (tensor cores).
void cuda_segmented_attention_device_offsets(const Tensor& q, const Tensor& k, const Tensor& v,
                                             const Tensor& k_offsets, double scale, const Tensor& out) {
  constexpr const char* op = "segmented_attention_device_offsets";
  if (flash_segmented_enabled() && flash_segmented_fits(q, k, v, k_offsets, out))
    return flash_segmented_attention(q, k, v, k_offsets, scale, out);
  DeviceScope scope(out);
  const Shape3 s = shape_of(q, {&q, &k, &v, &out});
  const int64_t samples = k_offsets.numel() - 1;
  if (samples == 0 || s.heads == 0) return;
  const int per_sample = static_cast<int>(q.size(0) / samples);
  const float scale_log2 = static_cast<float>(scale) * kLog2e;
  visit_attention_dtype(q.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    visit_head_dim(s.d, op, [&](auto dp) {
      constexpr int DP = decltype(dp)::value;
      const dim3 grid(static_cast<unsigned>(ceil_div(per_sample, kThreads / (DP / 32))),
                      static_cast<unsigned>(samples), static_cast<unsigned>(s.heads));
      visit_index(k_offsets.dtype(), op, [&](auto otag) {
        using Off = typename decltype(otag)::type;
        const DeviceKeyRows<Off> rows{static_cast<const Off*>(k_offsets.data_ptr()), per_sample,
                                      static_cast<int>(k.size(0))};
        forward_kernel<T, DP><<<grid, kThreads, 0, current_stream()>>>(
            static_cast<const T*>(q.data_ptr()), static_cast<const T*>(k.data_ptr()),
            static_cast<const T*>(v.data_ptr()), static_cast<T*>(out.data_ptr()), nullptr, rows, s, scale_log2);
        CORTEX_CUDA_CHECK_LAUNCH(op);
      });
    });
  });
}

void cuda_segmented_attention_backward(const Tensor& q, const std::vector<int64_t>& q_offsets, const Tensor& k,
                                       const Tensor& v, const std::vector<int64_t>& k_offsets, double scale,
                                       const Tensor& out, const Tensor& lse, const Tensor& gout, const Tensor& gq,
                                       const Tensor& gk, const Tensor& gv) {
  constexpr const char* op = "segmented_attention_backward";
  DeviceScope scope(gq);
  const Shape3 s = shape_of(q, {&q, &k, &v, &out, &gout, &gq, &gk, &gv});
  const float scale_f = static_cast<float>(scale), scale_log2 = scale_f * kLog2e;
  Tensor delta = empty({q.size(0), q.size(1)}, DType::f32, q.device());
  visit_attention_dtype(q.dtype(), op, [&](auto tag) {
    using T = typename decltype(tag)::type;
    visit_head_dim(s.d, op, [&](auto dp) {
      constexpr int DP = decltype(dp)::value;
      constexpr int rows = kThreads / (DP / 32);
      for_each_chunk(q_offsets, k_offsets, false, rows, s.heads, [&](const SegmentChunk& c, dim3 grid) {
        grad_q_kernel<T, DP><<<grid, kThreads, 0, current_stream()>>>(
            static_cast<const T*>(q.data_ptr()), static_cast<const T*>(k.data_ptr()),
            static_cast<const T*>(v.data_ptr()), static_cast<const T*>(out.data_ptr()),
            static_cast<const float*>(lse.data_ptr()), static_cast<const T*>(gout.data_ptr()),
            static_cast<T*>(gq.data_ptr()), static_cast<float*>(delta.data_ptr()), c, s, scale_f, scale_log2);
        CORTEX_CUDA_CHECK_LAUNCH(op);
      });
      for_each_chunk(q_offsets, k_offsets, true, rows, s.heads, [&](const SegmentChunk& c, dim3 grid) {
        grad_kv_kernel<T, DP><<<grid, kThreads, 0, current_stream()>>>(
            static_cast<const T*>(q.data_ptr()), static_cast<const T*>(k.data_ptr()),
            static_cast<const T*>(v.data_ptr()), static_cast<const float*>(lse.data_ptr()),
            static_cast<const T*>(gout.data_ptr()), static_cast<const float*>(delta.data_ptr()),
            static_cast<T*>(gk.data_ptr()), static_cast<T*>(gv.data_ptr()), c, s, scale_f, scale_log2);
        CORTEX_CUDA_CHECK_LAUNCH(op);
      });
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(segmented_attention_kernel, CUDA, cuda_segmented_attention);
CORTEX_REGISTER_KERNEL(segmented_attention_backward_kernel, CUDA, cuda_segmented_attention_backward);
CORTEX_REGISTER_KERNEL(segmented_attention_device_offsets_kernel, CUDA, cuda_segmented_attention_device_offsets);

}  // namespace cortex::cuda
