// CUDA dense_attention_kernel: equal-length attention on tensor cores (mma.sync, bf16/f16 in,
// f32 accumulate), reading q, k and v in their token-major strided layout, flash-style.
//
// Grid: x = tile of 64 queries, y = head, z = sample; four warps of 16 query rows each. The
// block copies its queries and then the keys and values of its (sample, head) 64 at a time
// into shared memory with cp.async, two key tiles in flight, so the copy of tile t + 1
// overlaps the MMAs on tile t. Each warp keeps its 16 x 64 scores, its running row maxima and
// sums and its 16 x D output in registers: scores are rescaled online (exp2 of the max's
// change) and turned into the A operand of P V without a trip through shared memory
// (mma_tiles.cuh). Key rows past Lk are zero-filled and masked to -inf; query rows past Lq are
// computed on zeros and never written. With rotary angles, each staged query and key tile is
// rotated in place in shared memory (the cos and sin rows of its tokens come with it), with
// the rounding of the rotary kernel. Shared memory per block: dense_attention_shared_bytes
// (45 KiB for D = 64, 57 KiB with angles), so several blocks share an SM.
//
// The same kernel serves segmented_attention_device_offsets (flash_segmented_attention, the
// serving encoder's latents against each sample's events): each block reads its sample's key
// rows [lo, hi) from the device offsets (clamped into k) and streams those; a sample without
// keys gets zeros.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "cuda/kernels/dense_attention_segmented.h"
#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/mma_tiles.cuh"
#include "ops/dense_attention.h"

namespace cortex::cuda {
namespace {

constexpr int kWarpRows = 16;  // query rows per warp: one MMA tile's M
constexpr int kQueryTile = static_cast<int>(kDenseAttentionQueryTile);
constexpr int kKeyTile = static_cast<int>(kDenseAttentionKeyTile);
constexpr int kWarps = kQueryTile / kWarpRows;
constexpr int kThreads = kWarps * 32;

struct Operand {
  const void* data;
  int64_t sample, token, head;  // strides in elements; the head dim is contiguous
};

// cos and sin rows [B * L, freqs] of every token, or null.
struct Angles {
  const void* cos;
  const void* sin;
  int freqs;
};

// Dense attention: every sample has the launch's Lk keys at its own sample stride.
struct EqualKeys {};
// Segmented: sample b's keys are rows [offsets[b], offsets[b + 1]) of k and v, clamped into
// [0, capacity] so that bad offsets never read outside them.
template <typename Off>
struct KeyRanges {
  const Off* offsets;  // [B + 1], on the device
  int64_t capacity;
};

__device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
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

// Starts the copy of `Rows` rows of D elements of one (sample, head), from token `first` on, into
// shared rows of `pitch` elements; rows at or past `valid` become zeros.
template <typename T, int D, int Rows>
__device__ __forceinline__ void stage_rows_async(T* dst, const Operand& src, int64_t sample, int64_t head, int first,
                                                 int valid) {
  constexpr int kVec = 16 / sizeof(T), kVecsPerRow = D / kVec, kPitch = D + kVec;
  const T* base = static_cast<const T*>(src.data) + sample * src.sample + head * src.head;
  constexpr int kTotal = Rows * kVecsPerRow;
#pragma unroll
  for (int u = 0; u < (kTotal + kThreads - 1) / kThreads; ++u) {
    const int i = static_cast<int>(threadIdx.x) + u * kThreads;
    if (kTotal % kThreads != 0 && i >= kTotal) break;
    const int r = i / kVecsPerRow, c = (i % kVecsPerRow) * kVec;
    const bool inside = first + r < valid;
    const T* from = inside ? base + static_cast<int64_t>(first + r) * src.token + c : base;
    mma::copy_async_16(dst + r * kPitch + c, from, inside);
  }
}

// Starts the copy of the cos and sin rows of `Rows` tokens (zeros past `valid`) into [Rows, freqs] each.
template <typename T, int Rows>
__device__ __forceinline__ void stage_angles_async(T* cos_dst, T* sin_dst, const Angles& angles, int64_t first,
                                                   int rows_left) {
  constexpr int kVec = 16 / sizeof(T);
  const int vecs_per_row = angles.freqs / kVec, total = Rows * vecs_per_row;
  for (int i = threadIdx.x; i < total; i += kThreads) {
    const int r = i / vecs_per_row, c = (i % vecs_per_row) * kVec;
    const bool inside = r < rows_left;
    const int64_t offset = inside ? (first + r) * angles.freqs + c : 0;
    mma::copy_async_16(cos_dst + r * angles.freqs + c, static_cast<const T*>(angles.cos) + offset, inside);
    mma::copy_async_16(sin_dst + r * angles.freqs + c, static_cast<const T*>(angles.sin) + offset, inside);
  }
}

// Rotates the channel pairs (j, freqs + j) of `Rows` staged rows in place, rounding as the rotary
// kernel does (each product rounded, then the sum); zero rows stay zero.
template <typename T, int D, int Rows>
__device__ __forceinline__ void rotate_rows(T* tile, const T* cos, const T* sin, int freqs) {
  constexpr int kPitch = D + 16 / static_cast<int>(sizeof(T));
  for (int i = threadIdx.x; i < Rows * freqs; i += kThreads) {
    const int r = i / freqs, j = i % freqs;
    T* row = tile + r * kPitch;
    const float x1 = to_float(row[j]), x2 = to_float(row[freqs + j]);
    const float c = to_float(cos[r * freqs + j]), s = to_float(sin[r * freqs + j]);
    row[j] = from_float<T>(__fadd_rn(__fmul_rn(x1, c), -__fmul_rn(x2, s)));
    row[freqs + j] = from_float<T>(__fadd_rn(__fmul_rn(x2, c), __fmul_rn(x1, s)));
  }
}

template <typename T, int D, bool Rotate, typename Keys>
__global__ void __launch_bounds__(kThreads)
    dense_attention_flash(Operand q, Operand k, Operand v, Angles angles, Keys keys, T* out, int heads, int lq,
                          int lk, float scale_log2) {
  static_assert(!(Rotate && !std::is_same_v<Keys, EqualKeys>), "rotation needs equal-length samples");
  extern __shared__ __align__(128) unsigned char shared[];
  constexpr int kPitch = D + 16 / static_cast<int>(sizeof(T));  // padded rows: ldmatrix rows hit distinct banks
  constexpr int kStage = 2 * kKeyTile * kPitch;                   // one K tile and one V tile
  T* q_tile = reinterpret_cast<T*>(shared);                       // [kQueryTile, kPitch]
  T* stages = q_tile + kQueryTile * kPitch;                       // [2][K, V][kKeyTile, kPitch]
  // With angles: the queries' cos and sin rows, then each stage's keys' cos and sin rows.
  const int freqs = Rotate ? angles.freqs : 0;
  T* q_cos = stages + 2 * kStage;
  T* q_sin = q_cos + kQueryTile * freqs;
  T* k_angles = q_sin + kQueryTile * freqs;  // [2][cos, sin][kKeyTile, freqs]

  const int64_t sample = blockIdx.z, head = blockIdx.y;
  const int q0 = static_cast<int>(blockIdx.x) * kQueryTile;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, quad = lane % 4;
  if constexpr (!std::is_same_v<Keys, EqualKeys>) {
    // This sample's key rows; k and v then read as one sample starting at the first of them.
    auto clamp = [](int64_t x, int64_t low, int64_t high) { return x < low ? low : (x > high ? high : x); };
    const int64_t lo = clamp(static_cast<int64_t>(keys.offsets[sample]), 0, keys.capacity);
    const int64_t hi = clamp(static_cast<int64_t>(keys.offsets[sample + 1]), lo, keys.capacity);
    lk = static_cast<int>(hi - lo);
    k.data = static_cast<const T*>(k.data) + lo * k.token;
    v.data = static_cast<const T*>(v.data) + lo * v.token;
    k.sample = v.sample = 0;
    if (lk == 0) {  // no keys: zeros, as the segmented op defines
      for (int i = threadIdx.x; i < kQueryTile * D; i += kThreads) {
        const int query = q0 + i / D;
        if (query < lq) out[((sample * lq + query) * heads + head) * D + i % D] = from_float<T>(0.0f);
      }
      return;
    }
  }
  const int tiles = (lk + kKeyTile - 1) / kKeyTile;

  stage_rows_async<T, D, kQueryTile>(q_tile, q, sample, head, q0, lq);
  stage_rows_async<T, D, kKeyTile>(stages, k, sample, head, 0, lk);
  stage_rows_async<T, D, kKeyTile>(stages + kKeyTile * kPitch, v, sample, head, 0, lk);
  if (Rotate) {  // Lq = Lk: query and key token i share row sample * Lk + i of the angles
    stage_angles_async<T, kQueryTile>(q_cos, q_sin, angles, sample * lk + q0, lq - q0);
    stage_angles_async<T, kKeyTile>(k_angles, k_angles + kKeyTile * freqs, angles, sample * lk, lk);
  }
  mma::copy_async_commit();

  uint32_t q_frag[D / 16][4];
  float o[D / 8][4];
#pragma unroll
  for (int n = 0; n < D / 8; ++n) o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f;
  // This lane's two rows (group and group + 8): running max (base 2, scaled) and its partial sum.
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};

  for (int t = 0; t < tiles; ++t) {
    if (t + 1 < tiles) {
      T* next = stages + ((t + 1) & 1) * kStage;
      stage_rows_async<T, D, kKeyTile>(next, k, sample, head, (t + 1) * kKeyTile, lk);
      stage_rows_async<T, D, kKeyTile>(next + kKeyTile * kPitch, v, sample, head, (t + 1) * kKeyTile, lk);
      if (Rotate) {
        T* next_angles = k_angles + ((t + 1) & 1) * 2 * kKeyTile * freqs;
        stage_angles_async<T, kKeyTile>(next_angles, next_angles + kKeyTile * freqs, angles,
                                        sample * lk + (t + 1) * kKeyTile, lk - (t + 1) * kKeyTile);
      }
      mma::copy_async_commit();
      mma::copy_async_wait<1>();
    } else {
      mma::copy_async_wait<0>();
    }
    __syncthreads();
    if (Rotate) {
      const T* tile_angles = k_angles + (t & 1) * 2 * kKeyTile * freqs;
      rotate_rows<T, D, kKeyTile>(stages + (t & 1) * kStage, tile_angles, tile_angles + kKeyTile * freqs, freqs);
      if (t == 0) rotate_rows<T, D, kQueryTile>(q_tile, q_cos, q_sin, freqs);
      __syncthreads();
    }
    if (t == 0) {
#pragma unroll
      for (int kk = 0; kk < D / 16; ++kk)
        mma::load_matrix_x4(q_frag[kk], q_tile + (warp * kWarpRows + lane % 16) * kPitch + kk * 16 + (lane / 16) * 8);
    }
    const T* k_tile = stages + (t & 1) * kStage;
    const T* v_tile = k_tile + kKeyTile * kPitch;

    // S = Q K^T for this warp's 16 rows and the tile's 64 keys; n-tile j holds keys 8j..8j+7.
    float s[kKeyTile / 8][4];
#pragma unroll
    for (int j = 0; j < kKeyTile / 8; ++j) s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
#pragma unroll
      for (int j = 0; j < kKeyTile / 8; j += 2) {
        uint32_t b[4];  // b[0], b[1]: keys 8j.., b[2], b[3]: keys 8j + 8..
        mma::load_matrix_x4(b, k_tile + (8 * j + lane % 8 + (lane / 16) * 8) * kPitch + kk * 16 + ((lane / 8) % 2) * 8);
        mma::mma_16816(s[j], q_frag[kk], b[0], b[1], static_cast<T*>(nullptr));
        mma::mma_16816(s[j + 1], q_frag[kk], b[2], b[3], static_cast<T*>(nullptr));
      }
    }

    // Online softmax in base 2: mask keys past Lk, update the row maxima (a quad shares a row),
    // rescale what was accumulated under the old maxima, exponentiate.
    const int key0 = t * kKeyTile;
    const bool partial = key0 + kKeyTile > lk;
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < kKeyTile / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        float x = s[j][e] * scale_log2;
        if (partial && key0 + 8 * j + 2 * quad + (e & 1) >= lk) x = -INFINITY;
        s[j][e] = x;
        tile_max[e / 2] = fmaxf(tile_max[e / 2], x);
      }
    float correction[2];
#pragma unroll
    for (int r = 0; r < 2; ++r) {
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 1));
      tile_max[r] = fmaxf(tile_max[r], __shfl_xor_sync(0xffffffffu, tile_max[r], 2));
      const float new_max = fmaxf(row_max[r], tile_max[r]);  // finite: every tile has a key below Lk
      correction[r] = exp2f(row_max[r] - new_max);
      row_max[r] = new_max;
      row_sum[r] *= correction[r];
    }
#pragma unroll
    for (int j = 0; j < kKeyTile / 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        s[j][e] = exp2f(s[j][e] - row_max[e / 2]);
        row_sum[e / 2] += s[j][e];
      }
#pragma unroll
    for (int n = 0; n < D / 8; ++n) {
      o[n][0] *= correction[0];
      o[n][1] *= correction[0];
      o[n][2] *= correction[1];
      o[n][3] *= correction[1];
    }

    // O += P V: the probabilities of n-tiles 2 step and 2 step + 1 are the A operand of k-step `step`.
#pragma unroll
    for (int step = 0; step < kKeyTile / 16; ++step) {
      const uint32_t p[4] = {mma::pack(s[2 * step][0], s[2 * step][1], static_cast<T*>(nullptr)),
                             mma::pack(s[2 * step][2], s[2 * step][3], static_cast<T*>(nullptr)),
                             mma::pack(s[2 * step + 1][0], s[2 * step + 1][1], static_cast<T*>(nullptr)),
                             mma::pack(s[2 * step + 1][2], s[2 * step + 1][3], static_cast<T*>(nullptr))};
#pragma unroll
      for (int n = 0; n < D / 8; n += 2) {
        uint32_t b[4];  // b[0], b[1]: columns 8n.., b[2], b[3]: columns 8n + 8..
        mma::load_matrix_x4_transposed(
            b, v_tile + (16 * step + lane % 8 + ((lane / 8) % 2) * 8) * kPitch + 8 * n + (lane / 16) * 8);
        mma::mma_16816(o[n], p, b[0], b[1], static_cast<T*>(nullptr));
        mma::mma_16816(o[n + 1], p, b[2], b[3], static_cast<T*>(nullptr));
      }
    }
    __syncthreads();  // every warp is done with this stage before tile t + 2 is copied over it
  }

  // Normalise by the row sums (the quad's partial sums added up) and write [B, Lq, H, D].
  const int group = lane / 4;
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    float sum = row_sum[r];
    sum += __shfl_xor_sync(0xffffffffu, sum, 1);
    sum += __shfl_xor_sync(0xffffffffu, sum, 2);
    const float inverse = 1.0f / sum;
    const int query = q0 + warp * kWarpRows + group + 8 * r;
    if (query >= lq) continue;
    T* row = out + ((sample * lq + query) * heads + head) * D;
#pragma unroll
    for (int n = 0; n < D / 8; ++n)
      *reinterpret_cast<uint32_t*>(row + 8 * n + 2 * quad) =
          mma::pack(o[n][2 * r] * inverse, o[n][2 * r + 1] * inverse, static_cast<T*>(nullptr));
  }
}

Operand operand_of(const Tensor& t) { return {t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)}; }

// What one launch attends over: q rows [batch, lq, heads, D] as `q` addresses them, out
// contiguous [batch, lq, heads, D]; keys as `Keys` says (lk each for EqualKeys).
struct Problem {
  Operand q, k, v;
  void* out;
  int64_t batch, lq, heads, lk;
  double scale;
};

template <typename T, int D, bool Rotate, typename Keys>
void launch(const Problem& p, const Angles& angles, const Keys& keys) {
  const int64_t bytes = dense_attention_shared_bytes(D, sizeof(T), angles.freqs);
  auto* kernel = dense_attention_flash<T, D, Rotate, Keys>;
  // Opting in to more than 48 KiB of dynamic shared memory (the largest any launch of this
  // instantiation needs: D = 128 with F = D / 2), once per device and instantiation.
  static std::atomic<uint64_t> opted_in{0};
  const uint64_t bit = uint64_t{1} << (current_device() % 64);
  if (!(opted_in.load() & bit)) {
    const int most = static_cast<int>(dense_attention_shared_bytes(D, sizeof(T), Rotate ? D / 2 : 0));
    CORTEX_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, most));
    opted_in.fetch_or(bit);
  }
  const dim3 grid(static_cast<unsigned>(ceil_div(p.lq, kQueryTile)), static_cast<unsigned>(p.heads),
                  static_cast<unsigned>(p.batch));
  kernel<<<grid, kThreads, bytes, current_stream()>>>(p.q, p.k, p.v, angles, keys, static_cast<T*>(p.out),
                                                      static_cast<int>(p.heads), static_cast<int>(p.lq),
                                                      static_cast<int>(p.lk),
                                                      static_cast<float>(p.scale * 1.4426950408889634));
  CORTEX_CUDA_CHECK_LAUNCH("dense_attention");
}

// Instantiates for the head dim (32, 64 or 128; the callers check) and the dtype (bf16 or f16).
template <bool Rotate, typename Keys>
void launch_for(DType dtype, int64_t d, const Problem& p, const Angles& angles, const Keys& keys) {
  auto for_dim = [&](auto tag) {
    using T = typename decltype(tag)::type;
    switch (d) {
      case 32: return launch<T, 32, Rotate>(p, angles, keys);
      case 64: return launch<T, 64, Rotate>(p, angles, keys);
      case 128: return launch<T, 128, Rotate>(p, angles, keys);
    }
  };
  if (dtype == DType::bf16) for_dim(std::type_identity<__nv_bfloat16>{});
  else for_dim(std::type_identity<__half>{});
}

void cuda_dense_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& cos, const Tensor& sin,
                          double scale, const Tensor& out) {
  CORTEX_CHECK(dense_attention_fused_fits(q, k, v, cos, sin), "dense_attention",
               "the CUDA kernel needs bf16/f16, head dim 32, 64 or 128, 16-byte aligned rows, fewer than 2^31 tokens "
               "and angles (if any) as contiguous [B * L, F] rows with F a multiple of 8, 2F <= D; got q ",
               q.describe(), ", k ", k.describe(), ", v ", v.describe(), ", cos ", describe(cos), ", sin ",
               describe(sin));
  CORTEX_CHECK(out.is_contiguous() && out.shape() == q.shape() && out.dtype() == q.dtype(), "dense_attention",
               "out must be contiguous like q ", q.describe(), ", got ", out.describe());
  CORTEX_CHECK(q.size(0) <= 65535 && q.size(2) <= 65535, "dense_attention", "at most 65535 samples and heads, got q ",
               q.describe());
  DeviceScope scope(out);
  const Angles angles{cos.defined() ? cos.data_ptr() : nullptr, sin.defined() ? sin.data_ptr() : nullptr,
                      cos.defined() ? static_cast<int>(cos.size(-1)) : 0};
  const Problem p{operand_of(q), operand_of(k), operand_of(v), out.data_ptr(), q.size(0), q.size(1), q.size(2),
                  k.size(1), scale};
  if (angles.freqs > 0) launch_for<true>(q.dtype(), q.size(3), p, angles, EqualKeys{});
  else launch_for<false>(q.dtype(), q.size(3), p, angles, EqualKeys{});
}

bool aligned16(const Tensor& t) { return reinterpret_cast<uintptr_t>(t.data_ptr()) % 16 == 0; }

}  // namespace

bool flash_segmented_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("CORTEX_FLASH_SEGMENTED");
    return v == nullptr || std::strcmp(v, "0") != 0;
  }();
  return enabled;
}

bool flash_segmented_fits(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& k_offsets,
                          const Tensor& out) {
  const int64_t samples = k_offsets.numel() - 1;
  if (samples < 1 || q.dim() != 3 || q.size(0) % samples != 0) return false;
  const int64_t per_sample = q.size(0) / samples, heads = q.size(1), d = q.size(2);
  // Row counts stay clear of 2^31 by a tile, so the kernel's 32-bit row arithmetic cannot wrap.
  constexpr int64_t kMaxRows = (int64_t{1} << 31) - kDenseAttentionKeyTile;
  const bool sixteen_bit = q.dtype() == DType::bf16 || q.dtype() == DType::f16;
  const bool same = k.dtype() == q.dtype() && v.dtype() == q.dtype() && out.dtype() == q.dtype();
  const bool shapes = k.dim() == 3 && k.size(1) == heads && k.size(2) == d && v.shape() == k.shape() &&
                      out.shape() == q.shape() && (d == 32 || d == 64 || d == 128) && heads >= 1 && heads <= 65535 &&
                      samples <= 65535 && per_sample >= kFlashSegmentedMinQueries && q.size(0) < kMaxRows &&
                      k.size(0) < kMaxRows;
  const bool layout = q.is_contiguous() && k.is_contiguous() && v.is_contiguous() && out.is_contiguous() &&
                      aligned16(q) && aligned16(k) && aligned16(v) && aligned16(out);
  const bool offsets = k_offsets.dtype() == DType::i32 || k_offsets.dtype() == DType::i64;
  return sixteen_bit && same && shapes && layout && offsets;
}

void flash_segmented_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& k_offsets,
                               double scale, const Tensor& out) {
  CORTEX_CHECK(flash_segmented_fits(q, k, v, k_offsets, out), "segmented_attention_device_offsets",
               "the flash kernel does not take q ", q.describe(), ", k ", k.describe(), ", v ", v.describe(),
               ", offsets ", k_offsets.describe(), ", out ", out.describe());
  DeviceScope scope(out);
  const int64_t samples = k_offsets.numel() - 1, per_sample = q.size(0) / samples, heads = q.size(1), d = q.size(2);
  const Operand q_rows{q.data_ptr(), per_sample * heads * d, heads * d, d};
  const Operand k_rows{k.data_ptr(), 0, heads * d, d}, v_rows{v.data_ptr(), 0, heads * d, d};
  const Problem p{q_rows, k_rows, v_rows, out.data_ptr(), samples, per_sample, heads, 0, scale};
  if (k_offsets.dtype() == DType::i32)
    launch_for<false>(q.dtype(), d, p, Angles{}, KeyRanges<int32_t>{k_offsets.data<int32_t>(), k.size(0)});
  else
    launch_for<false>(q.dtype(), d, p, Angles{}, KeyRanges<int64_t>{k_offsets.data<int64_t>(), k.size(0)});
}

CORTEX_REGISTER_KERNEL(dense_attention_kernel, CUDA, cuda_dense_attention);

}  // namespace cortex::cuda
