#include "cuda/gemm.h"

#include <cublasLt.h>

#include <atomic>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/caching_allocator.h"
#include "cuda/gemm_epilogue.h"
#include "cuda/runtime.h"

#define CORTEX_CUBLAS_CHECK(expr)                                                                              \
  do {                                                                                                         \
    const cublasStatus_t cortex_status_ = (expr);                                                              \
    if (cortex_status_ != CUBLAS_STATUS_SUCCESS)                                                               \
      throw ::cortex::Error(::cortex::detail::concat("cuBLASLt error: ", #expr, " failed at ", __FILE__, ":", \
                                                     __LINE__, ": ", cublasLtGetStatusName(cortex_status_), " (", \
                                                     cublasLtGetStatusString(cortex_status_), ")"));           \
  } while (0)

namespace cortex::cuda {

const char* epilogue_name(GemmEpilogue e) {
  switch (e) {
    case GemmEpilogue::none: return "none";
    case GemmEpilogue::bias: return "bias";
    case GemmEpilogue::gelu: return "gelu";
    case GemmEpilogue::bias_gelu: return "bias_gelu";
    case GemmEpilogue::bias_grad: return "bias_grad";
  }
  return "?";
}

namespace {

std::atomic<bool> g_allow_tf32{[] {
  const char* v = std::getenv("CORTEX_ALLOW_TF32");
  return v != nullptr && std::strcmp(v, "1") == 0;
}()};

cudaDataType_t cuda_data_type(DType t) {
  switch (t) {
    case DType::f32: return CUDA_R_32F;
    case DType::f64: return CUDA_R_64F;
    case DType::bf16: return CUDA_R_16BF;
    case DType::f16: return CUDA_R_16F;
    default: CORTEX_FAIL("gemm", "unsupported dtype ", dtype_name(t), " (expected f32, f64, bf16 or f16)");
  }
}

cublasLtEpilogue_t lt_epilogue(GemmEpilogue e) {
  switch (e) {
    case GemmEpilogue::none: return CUBLASLT_EPILOGUE_DEFAULT;
    case GemmEpilogue::bias: return CUBLASLT_EPILOGUE_BIAS;
    case GemmEpilogue::gelu: return CUBLASLT_EPILOGUE_GELU;
    case GemmEpilogue::bias_gelu: return CUBLASLT_EPILOGUE_GELU_BIAS;
    case GemmEpilogue::bias_grad: return CUBLASLT_EPILOGUE_BGRADB;  // our A is cuBLASLt's B (see plan)
  }
  return CUBLASLT_EPILOGUE_DEFAULT;
}

// Epilogues that read or write the bias vector (a bias pointer on any other epilogue is rejected).
bool uses_vector(GemmEpilogue e) {
  return e == GemmEpilogue::bias || e == GemmEpilogue::bias_gelu || e == GemmEpilogue::bias_grad;
}

// Largest power of two (<= 256) dividing the address of every batch's matrix.
uint32_t alignment_of(const void* p, int64_t batch_stride, int64_t batch, size_t itemsize) {
  uintptr_t bits = reinterpret_cast<uintptr_t>(p);
  if (batch > 1) bits |= static_cast<uintptr_t>(batch_stride) * itemsize;
  uint32_t a = 256;
  while (a > 1 && bits % a != 0) a >>= 1;
  return a;
}

struct PlanKey {
  int device;
  DType dtype;
  bool tf32, ta, tb;
  GemmEpilogue epilogue;
  int64_t m, n, k, batch, lda, ldb, ldc, sa, sb, sc;
  uint32_t align_a, align_b, align_c, align_bias;
  bool operator==(const PlanKey&) const = default;
};

struct PlanKeyHash {
  size_t operator()(const PlanKey& k) const {
    uint64_t h = 1469598103934665603ull;
    auto mix = [&](uint64_t v) { h = (h ^ v) * 1099511628211ull; };
    mix(static_cast<uint64_t>(k.device));
    mix(static_cast<uint64_t>(k.dtype) | (uint64_t(k.tf32) << 8) | (uint64_t(k.ta) << 9) | (uint64_t(k.tb) << 10) |
        (static_cast<uint64_t>(k.epilogue) << 16));
    for (int64_t v : {k.m, k.n, k.k, k.batch, k.lda, k.ldb, k.ldc, k.sa, k.sb, k.sc}) mix(static_cast<uint64_t>(v));
    mix((uint64_t(k.align_a) << 32) | k.align_b);
    mix((uint64_t(k.align_c) << 32) | k.align_bias);
    return static_cast<size_t>(h);
  }
};

// Descriptors and the chosen algorithm for one key.
struct Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t layout_a = nullptr, layout_b = nullptr, layout_c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  bool fused = false;  // the epilogue runs inside cuBLASLt
  bool launched = false;  // has run successfully at least once

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  ~Plan() {
    if (desc) cublasLtMatmulDescDestroy(desc);
    if (layout_a) cublasLtMatrixLayoutDestroy(layout_a);
    if (layout_b) cublasLtMatrixLayoutDestroy(layout_b);
    if (layout_c) cublasLtMatrixLayoutDestroy(layout_c);
  }
};

struct GemmState {
  std::mutex mu;
  std::vector<cublasLtHandle_t> handles;
  std::unordered_map<PlanKey, std::unique_ptr<Plan>, PlanKeyHash> plans;
  GemmCacheStats stats;

  cublasLtHandle_t handle(int device) {
    if (handles.empty()) handles.resize(static_cast<size_t>(device_count()), nullptr);
    if (!handles[device]) CORTEX_CUBLAS_CHECK(cublasLtCreate(&handles[device]));
    return handles[device];
  }
};

GemmState& state() {
  static GemmState* s = new GemmState();  // never destroyed: handles outlive static teardown
  return *s;
}

cublasLtMatrixLayout_t make_layout(cudaDataType_t type, int64_t rows, int64_t cols, int64_t ld, int64_t batch,
                                   int64_t batch_stride) {
  cublasLtMatrixLayout_t layout = nullptr;
  CORTEX_CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&layout, type, static_cast<uint64_t>(rows),
                                                 static_cast<uint64_t>(cols), ld));
  if (batch > 1) {
    const int32_t count = static_cast<int32_t>(batch);
    CORTEX_CUBLAS_CHECK(
        cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT, &count, sizeof count));
    CORTEX_CUBLAS_CHECK(cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                                         &batch_stride, sizeof batch_stride));
  }
  return layout;
}

// Row-major C = A @ B is column-major C^T = B^T @ A^T: cuBLASLt's A is our B and its B is
// our A, its M is our N. A row-major matrix read column-major is its transpose, so an
// operand that is not transposed in our terms is not transposed in cuBLASLt's either.
std::unique_ptr<Plan> make_plan(cublasLtHandle_t handle, const PlanKey& key, const GemmParams& p, bool fuse) {
  auto plan = std::make_unique<Plan>();
  const cudaDataType_t type = cuda_data_type(key.dtype);
  const bool f64 = key.dtype == DType::f64;
  const cublasComputeType_t compute =
      f64 ? CUBLAS_COMPUTE_64F : (key.tf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
  CORTEX_CUBLAS_CHECK(cublasLtMatmulDescCreate(&plan->desc, compute, f64 ? CUDA_R_64F : CUDA_R_32F));
  const int32_t op_a = key.tb ? CUBLAS_OP_T : CUBLAS_OP_N;  // cuBLASLt's A = our B
  const int32_t op_b = key.ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  CORTEX_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSA, &op_a, sizeof op_a));
  CORTEX_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_TRANSB, &op_b, sizeof op_b));
  if (fuse && key.epilogue != GemmEpilogue::none) {
    const cublasLtEpilogue_t ep = lt_epilogue(key.epilogue);
    CORTEX_CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &ep, sizeof ep));
    if (uses_vector(key.epilogue)) {
      const void* vec = key.epilogue == GemmEpilogue::bias_grad ? p.bias_grad : p.bias;
      CORTEX_CUBLAS_CHECK(
          cublasLtMatmulDescSetAttribute(plan->desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &vec, sizeof vec));
    }
  }
  plan->layout_a = key.tb ? make_layout(type, key.k, key.n, key.ldb, key.batch, key.sb)
                          : make_layout(type, key.n, key.k, key.ldb, key.batch, key.sb);
  plan->layout_b = key.ta ? make_layout(type, key.m, key.k, key.lda, key.batch, key.sa)
                          : make_layout(type, key.k, key.m, key.lda, key.batch, key.sa);
  plan->layout_c = make_layout(type, key.n, key.m, key.ldc, key.batch, key.sc);

  cublasLtMatmulPreference_t pref = nullptr;
  CORTEX_CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t max_ws = kGemmWorkspaceBytes;
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &max_ws, sizeof max_ws);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &key.align_b,
                                       sizeof key.align_b);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &key.align_a,
                                       sizeof key.align_a);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &key.align_c,
                                       sizeof key.align_c);
  cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &key.align_c,
                                       sizeof key.align_c);
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t status = cublasLtMatmulAlgoGetHeuristic(handle, plan->desc, plan->layout_a, plan->layout_b,
                                                               plan->layout_c, plan->layout_c, pref, 1, &result, &found);
  cublasLtMatmulPreferenceDestroy(pref);
  if (status != CUBLAS_STATUS_SUCCESS || found == 0 || result.state != CUBLAS_STATUS_SUCCESS) return nullptr;
  plan->algo = result.algo;
  plan->workspace = result.workspaceSize;
  plan->fused = fuse;
  return plan;
}

std::string describe_call(const GemmParams& p) {
  return detail::concat(dtype_name(p.dtype), " [", p.batch, " x ", p.m, "x", p.k, (p.a.transposed ? " (T)" : ""),
                        " @ ", p.k, "x", p.n, (p.b.transposed ? " (T)" : ""), "] lda ", p.a.ld, " ldb ", p.b.ld,
                        " ldc ", p.ldc, " batch strides ", p.a.batch_stride, "/", p.b.batch_stride, "/",
                        p.c_batch_stride, " epilogue ", epilogue_name(p.epilogue));
}

void validate(const GemmParams& p) {
  cuda_data_type(p.dtype);
  CORTEX_CHECK(p.m >= 0 && p.n >= 0 && p.k >= 1 && p.batch >= 1 && p.batch <= INT32_MAX, "gemm",
               "invalid sizes (k and batch must be positive) in ", describe_call(p));
  // In cuBLASLt's column-major terms the leading dimension must cover a stored column.
  const int64_t a_rows = p.a.transposed ? p.m : p.k, b_rows = p.b.transposed ? p.k : p.n;
  CORTEX_CHECK(p.a.ld >= std::max<int64_t>(a_rows, 1) && p.b.ld >= std::max<int64_t>(b_rows, 1) &&
                   p.ldc >= std::max<int64_t>(p.n, 1),
               "gemm", "leading dimension too small in ", describe_call(p));
  CORTEX_CHECK(p.a.data && p.b.data && p.c, "gemm", "null matrix pointer in ", describe_call(p));
  const bool needs_bias = p.epilogue == GemmEpilogue::bias || p.epilogue == GemmEpilogue::bias_gelu;
  CORTEX_CHECK(!needs_bias || p.bias, "gemm", "epilogue needs a bias vector in ", describe_call(p));
  CORTEX_CHECK(p.epilogue != GemmEpilogue::bias_grad || (p.bias_grad && p.batch == 1), "gemm",
               "the bias_grad epilogue needs an output vector and batch 1 in ", describe_call(p));
  CORTEX_CHECK(p.batch == 1 || p.c_batch_stride >= p.m * p.ldc || p.m == 0, "gemm",
               "output batches overlap in ", describe_call(p));
}

}  // namespace

void set_allow_tf32(bool allow) { g_allow_tf32 = allow; }
bool allow_tf32() { return g_allow_tf32; }

GemmCacheStats gemm_cache_stats() {
  GemmState& s = state();
  std::lock_guard<std::mutex> lock(s.mu);
  GemmCacheStats out = s.stats;
  out.entries = s.plans.size();
  return out;
}

void gemm(const GemmParams& p) {
  if (p.m == 0 || p.n == 0) return;
  validate(p);
  const int device = current_device();
  cudaStream_t stream = current_stream(device);
  const size_t itemsize = dtype_size(p.dtype);
  const int64_t batch = p.batch;
  PlanKey key{device,
              p.dtype,
              p.dtype == DType::f32 && allow_tf32(),
              p.a.transposed,
              p.b.transposed,
              p.epilogue,
              p.m,
              p.n,
              p.k,
              batch,
              p.a.ld,
              p.b.ld,
              p.ldc,
              batch > 1 ? p.a.batch_stride : 0,
              batch > 1 ? p.b.batch_stride : 0,
              batch > 1 ? p.c_batch_stride : 0,
              alignment_of(p.a.data, p.a.batch_stride, batch, itemsize),
              alignment_of(p.b.data, p.b.batch_stride, batch, itemsize),
              std::min(alignment_of(p.c, p.c_batch_stride, batch, itemsize),
                       p.c_in ? alignment_of(p.c_in, p.c_batch_stride, batch, itemsize) : UINT32_MAX),
              alignment_of(p.epilogue == GemmEpilogue::bias_grad ? p.bias_grad : p.bias, 0, 1, itemsize)};

  GemmState& s = state();
  bool fused = false;
  {
    std::lock_guard<std::mutex> lock(s.mu);
    cublasLtHandle_t handle = s.handle(device);
    auto it = s.plans.find(key);
    if (it == s.plans.end()) {
      ++s.stats.heuristic_calls;
      // cuBLASLt's fused GELU in f64 was measured (H100, CUDA 13.0) accurate to only ~4e-11
      // relative; f64 is the precision reference, so its GELU runs as our own f64 kernel.
      const bool f64_gelu = p.dtype == DType::f64 &&
                            (p.epilogue == GemmEpilogue::gelu || p.epilogue == GemmEpilogue::bias_gelu);
      std::unique_ptr<Plan> plan = f64_gelu ? nullptr : make_plan(handle, key, p, true);
      if (!plan && p.epilogue != GemmEpilogue::none) plan = make_plan(handle, key, p, false);
      CORTEX_CHECK(plan != nullptr, "gemm", "cuBLASLt found no algorithm for ", describe_call(p));
      it = s.plans.emplace(key, std::move(plan)).first;
    } else {
      ++s.stats.hits;
    }
    const float alpha32 = static_cast<float>(p.alpha), beta32 = static_cast<float>(p.beta);
    const bool f64 = p.dtype == DType::f64;
    const void* alpha = f64 ? static_cast<const void*>(&p.alpha) : &alpha32;
    const void* beta = f64 ? static_cast<const void*>(&p.beta) : &beta32;
    auto launch = [&](Plan& plan) {
      if (plan.fused && uses_vector(p.epilogue)) {
        const void* vec = p.epilogue == GemmEpilogue::bias_grad ? p.bias_grad : p.bias;
        CORTEX_CUBLAS_CHECK(
            cublasLtMatmulDescSetAttribute(plan.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &vec, sizeof vec));
      }
      // Stream-ordered: the block may be reused by later work on this stream only.
      DataPtr workspace = plan.workspace > 0
                              ? CachingAllocator::instance().allocate(plan.workspace, Device::cuda(device))
                              : DataPtr(nullptr, [](void*) {});
      return cublasLtMatmul(handle, plan.desc, alpha, p.b.data, plan.layout_a, p.a.data, plan.layout_b, beta,
                            p.c_in ? p.c_in : p.c, plan.layout_c, p.c, plan.layout_c, &plan.algo, workspace.get(), plan.workspace, stream);
    };
    cublasStatus_t status = launch(*it->second);
    if (status != CUBLAS_STATUS_SUCCESS && it->second->fused && p.epilogue != GemmEpilogue::none &&
        !it->second->launched) {
      // The heuristic offered a fused epilogue the launch then refused: keep the unfused plan instead.
      std::unique_ptr<Plan> plain = make_plan(handle, key, p, false);
      if (plain) {
        it->second = std::move(plain);
        status = launch(*it->second);
      }
    }
    if (status != CUBLAS_STATUS_SUCCESS)
      CORTEX_FAIL("gemm", "cublasLtMatmul failed: ", cublasLtGetStatusName(status), " (",
                  cublasLtGetStatusString(status), ") for ", describe_call(p));
    it->second->launched = true;
    fused = it->second->fused;
    if (!fused && p.epilogue != GemmEpilogue::none) ++s.stats.unfused_epilogues;
  }
  if (fused) return;
  switch (p.epilogue) {
    case GemmEpilogue::none: break;
    case GemmEpilogue::bias:
    case GemmEpilogue::gelu:
    case GemmEpilogue::bias_gelu:
      gemm_bias_act(p.dtype, p.c, p.m, p.n, p.ldc, batch, p.c_batch_stride,
                    p.epilogue == GemmEpilogue::gelu ? nullptr : p.bias, p.epilogue != GemmEpilogue::bias, stream);
      break;
    case GemmEpilogue::bias_grad:
      gemm_row_sums(p.dtype, p.a.data, p.m, p.k, p.a.transposed ? 1 : p.a.ld, p.a.transposed ? p.a.ld : 1,
                    p.bias_grad, stream);
      break;
  }
}

}  // namespace cortex::cuda
