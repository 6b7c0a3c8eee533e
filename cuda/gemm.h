#pragma once
// Row-major GEMM through cuBLASLt on the current device and stream:
//   C[i] = epilogue(alpha * A[i] @ B[i] + beta * C[i])   for i < batch (C_in[i] for the beta
//   term where given),
// A read as [M, K], B as [K, N], C written as [M, N], each possibly transposed in memory.
// f32 (optionally TF32), bf16 and f16 accumulate in f32; f64 in f64. The heuristic's
// choice of algorithm is cached per shape, layout, dtype, epilogue and alignment, so each
// distinct call pays for the heuristic once. Epilogues cuBLASLt cannot fuse for a
// configuration run as separate kernels with the same result.
#include <cstddef>
#include <cstdint>

#include "engine/dtype.h"

namespace cortex::cuda {

enum class GemmEpilogue : uint8_t {
  none,
  bias,       // C += bias[n] (bias has N elements, C's dtype)
  gelu,       // C = gelu(C) (tanh form)
  bias_gelu,  // C = gelu(C + bias[n])
  bias_grad,  // also bias_grad[m] = sum over k of A[m, k] (M elements, C's dtype); batch must be 1
};
const char* epilogue_name(GemmEpilogue e);

// One operand: element (r, c) of batch i lives at data + i * batch_stride + r * ld + c,
// or at data + i * batch_stride + c * ld + r when transposed (strides in elements).
struct GemmOperand {
  const void* data = nullptr;
  int64_t ld = 0;
  int64_t batch_stride = 0;  // 0 broadcasts the operand over the batch
  bool transposed = false;
};

struct GemmParams {
  DType dtype = DType::f32;  // of A, B, C and the bias
  int64_t m = 0, n = 0, k = 0, batch = 1;
  GemmOperand a, b;
  void* c = nullptr;
  // Read as the beta term instead of c when set (same layout as c): D = A B + beta * c_in
  // without first copying c_in into the output (a residual add in the GEMM).
  const void* c_in = nullptr;
  int64_t ldc = 0;
  int64_t c_batch_stride = 0;
  double alpha = 1, beta = 0;
  GemmEpilogue epilogue = GemmEpilogue::none;
  const void* bias = nullptr;
  void* bias_grad = nullptr;
};

void gemm(const GemmParams& p);

// TF32 for f32 GEMMs: off by default (full f32 accuracy); CORTEX_ALLOW_TF32=1 turns it on at start.
void set_allow_tf32(bool allow);
bool allow_tf32();

struct GemmCacheStats {
  size_t entries = 0;
  uint64_t heuristic_calls = 0;  // cache misses
  uint64_t hits = 0;
  uint64_t unfused_epilogues = 0;  // calls whose epilogue ran as separate kernels
};
GemmCacheStats gemm_cache_stats();

// Largest workspace offered to cuBLASLt (allocated per call from the caching allocator).
constexpr size_t kGemmWorkspaceBytes = size_t(32) << 20;

}  // namespace cortex::cuda
