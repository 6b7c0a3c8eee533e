// CUDA dense_attention_kernel: equal-length attention on tensor cores (WMMA, bf16/f16 in,
// f32 accumulate), reading q, k and v in their token-major strided layout.
//
// Grid: x = tile of 128 (or 64) queries, y = head, z = sample; one warp per 16 query rows. The
// block stages every key and value of its (sample, head) and its queries in shared memory,
// each warp computes its 16 x Lk score rows with MMAs into an f32 scratch row per query,
// takes an exact softmax per row (the whole row is on chip, so no online rescaling), writes
// the probabilities over the scores in place as bf16/f16, multiplies them by V with MMAs and
// normalises the output rows by the softmax sums. Keys are padded to a multiple of 16 with
// zero rows whose probabilities are zero; query rows past Lq are computed on zeros and never
// written. Shared memory per block: ops/dense_attention.h's dense_attention_shared_bytes.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <mma.h>

#include <atomic>
#include <cmath>

#include "cuda/kernels/launch.cuh"
#include "ops/dense_attention.h"

namespace cortex::cuda {
namespace {

namespace wmma = nvcuda::wmma;

constexpr int kWarpRows = 16;  // query rows per warp: one MMA tile
// Scores each lane holds while it normalises a row: enough for any key count whose tiles fit
// in shared memory (at most 592 keys, for D = 32).
constexpr int kKeysPerLane = 20;

struct Operand {
  const void* data;
  int64_t sample, token, head;  // strides in elements; the head dim is contiguous
};

template <typename T>
__device__ __forceinline__ T from_float(float x);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float x) {
  return __float2half_rn(x);
}

// Copies `rows` rows of D elements (rows past `valid` as zeros) of one (sample, head) into
// shared memory rows of kPitch elements, 16 bytes per load. Each thread issues kLoadsInFlight loads before
// storing any: with one block per SM, a load-store loop would leave the block waiting on one
// memory latency per 2 KB.
constexpr int kLoadsInFlight = 8;

template <typename T, int D, int Threads>
__device__ __forceinline__ void stage_rows(T* dst, const Operand& src, int64_t sample, int64_t head, int64_t first,
                                           int rows, int64_t valid) {
  constexpr int kVec = 16 / sizeof(T), kVecsPerRow = D / kVec, kPitch = D + kVec;
  const T* base = static_cast<const T*>(src.data) + sample * src.sample + head * src.head;
  const int total = rows * kVecsPerRow;
  for (int start = threadIdx.x; start < total; start += Threads * kLoadsInFlight) {
    uint4 words[kLoadsInFlight];
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      const int i = start + u * Threads, r = i / kVecsPerRow, c = (i % kVecsPerRow) * kVec;
      words[u] = make_uint4(0, 0, 0, 0);
      if (i < total && first + r < valid)
        words[u] = __ldg(reinterpret_cast<const uint4*>(base + (first + r) * src.token + c));
    }
#pragma unroll
    for (int u = 0; u < kLoadsInFlight; ++u) {
      const int i = start + u * Threads;
      if (i < total) *reinterpret_cast<uint4*>(dst + (i / kVecsPerRow) * kPitch + (i % kVecsPerRow) * kVec) = words[u];
    }
  }
}

template <typename T, int D, int Warps>
__global__ void __launch_bounds__(Warps * 32)
    dense_attention_wmma(Operand q, Operand k, Operand v, T* out, int heads, int lq, int lk, int keys, int row_words,
                         float scale_log2) {
  extern __shared__ __align__(128) unsigned char shared[];
  constexpr int kTile = Warps * kWarpRows, kThreads = Warps * 32, kPitch = D + 16 / sizeof(T);
  T* k_tile = reinterpret_cast<T*>(shared);  // [keys, kPitch]
  T* v_tile = k_tile + keys * kPitch;        // [keys, kPitch]
  T* q_tile = v_tile + keys * kPitch;        // [kTile, kPitch]
  float* scratch = reinterpret_cast<float*>(q_tile + kTile * kPitch);  // [kTile, row_words]

  const int64_t sample = blockIdx.z, head = blockIdx.y, q0 = static_cast<int64_t>(blockIdx.x) * kTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  stage_rows<T, D, kThreads>(k_tile, k, sample, head, 0, keys, lk);
  stage_rows<T, D, kThreads>(v_tile, v, sample, head, 0, keys, lk);
  stage_rows<T, D, kThreads>(q_tile, q, sample, head, q0, kTile, lq);
  __syncthreads();

  // Scores: this warp's 16 query rows against every key.
  float* rows = scratch + warp * kWarpRows * row_words;
  wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> q_frag[D / 16];
#pragma unroll
  for (int kk = 0; kk < D / 16; ++kk) wmma::load_matrix_sync(q_frag[kk], q_tile + warp * kWarpRows * kPitch + kk * 16, kPitch);
  for (int n0 = 0; n0 < keys; n0 += 16) {
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
    wmma::fill_fragment(acc, 0.0f);
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::col_major> k_frag;  // K^T: key n at column n
      wmma::load_matrix_sync(k_frag, k_tile + n0 * kPitch + kk * 16, kPitch);
      wmma::mma_sync(acc, q_frag[kk], k_frag, acc);
    }
    wmma::store_matrix_sync(rows + n0, acc, row_words, wmma::mem_row_major);
  }
  __syncwarp();

  // Softmax per row in base 2; probabilities overwrite the row's scores as T.
  float inverse_sum = 0.0f;  // lane r keeps row r's
  for (int r = 0; r < kWarpRows; ++r) {
    float* row = rows + r * row_words;
    float x[kKeysPerLane];
    float m = -INFINITY;
#pragma unroll
    for (int i = 0; i < kKeysPerLane; ++i) {
      const int j = lane + 32 * i;
      x[i] = j < lk ? row[j] * scale_log2 : -INFINITY;
      m = fmaxf(m, x[i]);
    }
#pragma unroll
    for (int o = 16; o > 0; o /= 2) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    float sum = 0.0f;
#pragma unroll
    for (int i = 0; i < kKeysPerLane; ++i) {
      x[i] = lane + 32 * i < lk ? exp2f(x[i] - m) : 0.0f;
      sum += x[i];
    }
#pragma unroll
    for (int o = 16; o > 0; o /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    __syncwarp();  // every lane has read the row before any overwrites it
    T* probs = reinterpret_cast<T*>(row);
#pragma unroll
    for (int i = 0; i < kKeysPerLane; ++i)
      if (lane + 32 * i < keys) probs[lane + 32 * i] = from_float<T>(x[i]);
    if (lane == r) inverse_sum = 1.0f / sum;
  }
  __syncwarp();

  // Output rows: probabilities (row stride 2 * row_words elements of T) times V.
  wmma::fragment<wmma::accumulator, 16, 16, 16, float> o_frag[D / 16];
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::fill_fragment(o_frag[n], 0.0f);
  const T* probs = reinterpret_cast<const T*>(rows);
  for (int k0 = 0; k0 < keys; k0 += 16) {
    wmma::fragment<wmma::matrix_a, 16, 16, 16, T, wmma::row_major> p_frag;
    wmma::load_matrix_sync(p_frag, probs + k0, 2 * row_words);
#pragma unroll
    for (int n = 0; n < D / 16; ++n) {
      wmma::fragment<wmma::matrix_b, 16, 16, 16, T, wmma::row_major> v_frag;
      wmma::load_matrix_sync(v_frag, v_tile + k0 * kPitch + n * 16, kPitch);
      wmma::mma_sync(o_frag[n], p_frag, v_frag, o_frag[n]);
    }
  }
  __syncwarp();  // every lane is done reading probabilities before the rows are reused
#pragma unroll
  for (int n = 0; n < D / 16; ++n) wmma::store_matrix_sync(rows + n * 16, o_frag[n], row_words, wmma::mem_row_major);
  __syncwarp();

  // Normalise and write [B, Lq, H, D]; the trip count is the same for every lane (shuffles).
  for (int e = lane; e < kWarpRows * D; e += 32) {
    const int r = e / D, c = e % D;
    const float inv = __shfl_sync(0xffffffffu, inverse_sum, r);
    const int64_t query = q0 + warp * kWarpRows + r;
    if (query < lq) out[((sample * lq + query) * heads + head) * D + c] = from_float<T>(rows[r * row_words + c] * inv);
  }
}

Operand operand_of(const Tensor& t) { return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)}; }

template <typename T, int D, int Warps>
void launch_tile(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out) {
  const int64_t batch = q.size(0), lq = q.size(1), heads = q.size(2), lk = k.size(1), tile = Warps * kWarpRows;
  const int64_t bytes = dense_attention_shared_bytes(lk, D, sizeof(T), tile);
  auto* kernel = dense_attention_wmma<T, D, Warps>;
  // Opting in to more than 48 KiB of dynamic shared memory, once per device and instantiation.
  static std::atomic<uint64_t> opted_in{0};
  const uint64_t bit = uint64_t{1} << (current_device() % 64);
  if (!(opted_in.load() & bit)) {
    CORTEX_CUDA_CHECK(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kDenseAttentionMaxSharedBytes));
    opted_in.fetch_or(bit);
  }
  const dim3 grid(static_cast<unsigned>(ceil_div(lq, tile)), static_cast<unsigned>(heads),
                  static_cast<unsigned>(batch));
  kernel<<<grid, Warps * 32, bytes, current_stream()>>>(
      operand_of(q), operand_of(k), operand_of(v), static_cast<T*>(out.data_ptr()), static_cast<int>(heads),
      static_cast<int>(lq), static_cast<int>(lk), static_cast<int>(dense_attention_padded_keys(lk)),
      static_cast<int>(dense_attention_row_words(lk, D)), static_cast<float>(scale * 1.4426950408889634));
  CORTEX_CUDA_CHECK_LAUNCH("dense_attention");
}

// 8 warps share one staging of K and V where their scratch fits (and the queries need it).
template <typename T, int D>
void launch(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out) {
  const bool wide = q.size(1) > kDenseAttentionQueryTile &&
                    dense_attention_shared_bytes(k.size(1), D, sizeof(T), kDenseAttentionWideQueryTile) <=
                        kDenseAttentionMaxSharedBytes;
  if (wide) launch_tile<T, D, kDenseAttentionWideQueryTile / kWarpRows>(q, k, v, scale, out);
  else launch_tile<T, D, kDenseAttentionQueryTile / kWarpRows>(q, k, v, scale, out);
}

template <typename T>
void launch_for_head_dim(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out) {
  switch (q.size(3)) {
    case 32: return launch<T, 32>(q, k, v, scale, out);
    case 64: return launch<T, 64>(q, k, v, scale, out);
    case 128: return launch<T, 128>(q, k, v, scale, out);
  }
}

void cuda_dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, const Tensor& out) {
  CORTEX_CHECK(dense_attention_fused_fits(q, k, v), "dense_attention",
               "the CUDA kernel needs bf16/f16, head dim 32, 64 or 128, 16-byte aligned rows and keys whose tiles fit "
               "in shared memory; got q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe());
  CORTEX_CHECK(out.is_contiguous() && out.shape() == q.shape() && out.dtype() == q.dtype(), "dense_attention",
               "out must be contiguous like q ", q.describe(), ", got ", out.describe());
  CORTEX_CHECK(dense_attention_padded_keys(k.size(1)) <= 32 * kKeysPerLane, "dense_attention", "at most ",
               32 * kKeysPerLane, " keys, got k ", k.describe());
  CORTEX_CHECK(q.size(0) <= 65535 && q.size(2) <= 65535, "dense_attention", "at most 65535 samples and heads, got q ",
               q.describe());
  DeviceScope scope(out);
  if (q.dtype() == DType::bf16) launch_for_head_dim<__nv_bfloat16>(q, k, v, scale, out);
  else launch_for_head_dim<__half>(q, k, v, scale, out);
}

}  // namespace

CORTEX_REGISTER_KERNEL(dense_attention_kernel, CUDA, cuda_dense_attention);

}  // namespace cortex::cuda
