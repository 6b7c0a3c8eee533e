// CUDA matmul (cuBLASLt) against a float64 CPU reference: dtypes, awkward sizes, transposed,
// batched and broadcast views, accumulation, epilogues and the per-shape plan cache.
#ifdef CORTEX_WITH_CUDA
#include "cuda/gemm.h"
#include "cuda/runtime.h"
#include "ops/kernels.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

Tensor to_host64(const Tensor& t) { return data_to_dtype(data_to_device(t, Device::cpu()), DType::f64); }

// ||out - ref|| / ||ref|| over all elements.
double rel_err(const Tensor& out, const Tensor& ref) {
  const auto o = values(out), r = values(ref);
  REQUIRE(o.size() == r.size());
  double num = 0, den = 0;
  for (size_t i = 0; i < o.size(); ++i) {
    if (std::isnan(o[i])) return INFINITY;
    num += (o[i] - r[i]) * (o[i] - r[i]);
    den += r[i] * r[i];
  }
  return std::sqrt(num / std::max(den, 1e-300));
}

double bound(DType t) {
  switch (t) {
    case DType::f64: return 1e-12;
    case DType::f32: return 1e-5;
    case DType::f16: return 5e-3;
    default: return 1e-2;
  }
}

// Checks matmul(a, b) on the GPU (inputs already there) against float64 on the CPU.
void check_matmul(const Tensor& a, const Tensor& b, const std::string& what) {
  const std::string context = detail::concat(what, ": ", a.describe(), " @ ", b.describe());
  INFO(context);
  const Tensor out = matmul(a, b);
  REQUIRE(out.device() == gpu());
  const Tensor ref = matmul(to_host64(a), to_host64(b));
  const double err = rel_err(out, ref);
  CHECK_MESSAGE(err <= bound(a.dtype()), "relative error ", err);
}

const DType kFloatTypes[] = {DType::f32, DType::bf16, DType::f16, DType::f64};

}  // namespace

CORTEX_GPU_TEST("cuda matmul: every awkward size and dtype against float64") {
  cuda::set_allow_tf32(false);
  uint64_t seed = 1;
  for (DType dtype : kFloatTypes)
    for (int64_t m : kAwkwardSizes)
      for (int64_t n : kAwkwardSizes)
        for (int64_t k : kAwkwardSizes) {
          const Tensor a = random({m, k}, seed++, dtype, gpu());
          const Tensor b = random({k, n}, seed++, dtype, gpu());
          check_matmul(a, b, "plain");
        }
}

CORTEX_GPU_TEST("cuda matmul: transposed operands as strides") {
  uint64_t seed = 500;
  for (DType dtype : kFloatTypes)
    for (int64_t m : {3, 129})
      for (int64_t k : {1, 17}) {
        const int64_t n = 17;
        const Tensor a = random({m, k}, seed++, dtype, gpu()), b = random({k, n}, seed++, dtype, gpu());
        check_matmul(noncontiguous(a), b, "a transposed");
        check_matmul(a, noncontiguous(b), "b transposed");
        check_matmul(noncontiguous(a), noncontiguous(b), "both transposed");
        // Every other column: strides cuBLASLt cannot express, copied first.
        const Tensor wide = random({m, 2 * k}, seed++, dtype, gpu());
        check_matmul(wide.view_as_strided({m, k}, {2 * k, 2}, 0), b, "gapped columns");
      }
}

CORTEX_GPU_TEST("cuda matmul: batched and broadcast operands") {
  uint64_t seed = 900;
  for (DType dtype : {DType::f32, DType::bf16}) {
    const Tensor a = random({5, 17, 3}, seed++, dtype, gpu()), b = random({5, 3, 129}, seed++, dtype, gpu());
    check_matmul(a, b, "batched");
    check_matmul(noncontiguous(a), b, "batched, a transposed");
    const Tensor w = random({3, 129}, seed++, dtype, gpu());
    check_matmul(a, w, "[B,M,K] @ [K,N] folded into one GEMM");
    check_matmul(noncontiguous(a), w, "[B,M,K] transposed @ [K,N]");
    const Tensor x = random({17, 3}, seed++, dtype, gpu());
    check_matmul(x, b, "[M,K] @ [B,K,N]: zero batch stride");
    const Tensor p = random({2, 1, 17, 3}, seed++, dtype, gpu()), q = random({1, 4, 3, 129}, seed++, dtype, gpu());
    check_matmul(p, q, "[2,1] x [1,4] batch broadcast");
    const Tensor v = random({3}, seed++, dtype, gpu());
    check_matmul(a, v, "matrix @ vector");
  }
}

CORTEX_GPU_TEST("cuda matmul: the kernel accumulates into strided outputs") {
  for (DType dtype : {DType::f32, DType::f64, DType::bf16}) {
    const std::string context = dtype_name(dtype);
    INFO(context);
    const Tensor a = random({1, 17, 129}, 31, dtype, gpu()), b = random({1, 129, 3}, 32, dtype, gpu());
    // A column-major output, [1,17,3] read through strides (., 1, 17).
    const Tensor init = random({1, 3, 17}, 33, dtype, gpu());
    const Tensor out = init.view_as_strided({1, 17, 3}, {51, 1, 17}, 0);
    const Tensor expected = add(to_host64(out), matmul(to_host64(a), to_host64(b)));
    matmul_kernel().get(gpu())(a, b, out, true);
    CHECK(rel_err(out, expected) <= bound(dtype));
    // Overwriting (no accumulation) an output whose batches cannot be expressed: batch stride 0 is
    // not allowed for outputs, so use interleaved batches [2,17,3] with strides (3, 6, 1).
    const Tensor a2 = random({2, 17, 129}, 34, dtype, gpu()), b2 = random({2, 129, 3}, 35, dtype, gpu());
    const Tensor buffer = full({2 * 17 * 3}, 1e4, dtype, gpu());
    const Tensor interleaved = buffer.view_as_strided({2, 17, 3}, {3, 6, 1}, 0);
    matmul_kernel().get(gpu())(a2, b2, interleaved, false);
    CHECK(rel_err(interleaved, matmul(to_host64(a2), to_host64(b2))) <= bound(dtype));
  }
}

CORTEX_GPU_TEST("cuda matmul: TF32 trades f32 precision for speed only when allowed") {
  const Tensor a = random({129, 1024}, 41, DType::f32, gpu()), b = random({1024, 129}, 42, DType::f32, gpu());
  const Tensor ref = matmul(to_host64(a), to_host64(b));
  cuda::set_allow_tf32(true);
  const double err_tf32 = rel_err(matmul(a, b), ref);
  cuda::set_allow_tf32(false);
  const double err_f32 = rel_err(matmul(a, b), ref);
  CHECK(err_f32 <= 1e-5);
  CHECK(err_tf32 <= 5e-3);
  CHECK(err_tf32 > err_f32);  // TF32 keeps 10 mantissa bits: visibly less precise
}

CORTEX_GPU_TEST("cuda gemm: each distinct call pays for the heuristic once") {
  const Tensor a = random({37, 45}, 51, DType::f32, gpu()), b = random({45, 29}, 52, DType::f32, gpu());
  matmul(a, b);
  const auto first = cuda::gemm_cache_stats();
  for (int i = 0; i < 5; ++i) matmul(a, b);
  const auto later = cuda::gemm_cache_stats();
  CHECK(later.heuristic_calls == first.heuristic_calls);
  CHECK(later.hits == first.hits + 5);
  CHECK(later.entries == first.entries);
}

namespace {

// Host reference of the epilogues in float64.
double gelu64(double x) { return 0.5 * x * (1.0 + std::tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))); }

}  // namespace

CORTEX_GPU_TEST("cuda gemm: bias, GELU and bias+GELU epilogues") {
  std::string fusion;  // which configurations cuBLASLt fused, for the log
  for (DType dtype : {DType::f32, DType::bf16, DType::f16, DType::f64}) {
    for (cuda::GemmEpilogue ep : {cuda::GemmEpilogue::bias, cuda::GemmEpilogue::gelu, cuda::GemmEpilogue::bias_gelu}) {
      for (int64_t batch : {1, 3}) {
        const std::string context = detail::concat(dtype_name(dtype), " ", cuda::epilogue_name(ep), " batch ", batch);
        INFO(context);
        const int64_t m = 129, n = 64, k = 17;
        const Tensor a = random({batch, m, k}, 61, dtype, gpu()), b = random({batch, k, n}, 62, dtype, gpu());
        const Tensor bias = random({n}, 63, dtype, gpu());
        Tensor c = full({batch, m, n}, 7, dtype, gpu());
        cuda::GemmParams p;
        p.dtype = dtype;
        p.m = m;
        p.n = n;
        p.k = k;
        p.batch = batch;
        p.a = {a.data_ptr(), k, m * k, false};
        p.b = {b.data_ptr(), n, k * n, false};
        p.c = c.data_ptr();
        p.ldc = n;
        p.c_batch_stride = m * n;
        p.epilogue = ep;
        p.bias = bias.data_ptr();
        const uint64_t unfused = cuda::gemm_cache_stats().unfused_epilogues;
        cuda::gemm(p);
        fusion += context + (cuda::gemm_cache_stats().unfused_epilogues == unfused ? ": fused; " : ": separate kernel; ");
        auto prod = values(matmul(to_host64(a), to_host64(b)));
        const auto bv = values(bias);
        for (size_t i = 0; i < prod.size(); ++i) {
          double v = prod[i];
          if (ep != cuda::GemmEpilogue::gelu) v += bv[i % n];
          if (ep != cuda::GemmEpilogue::bias) v = gelu64(v);
          prod[i] = v;
        }
        CHECK(rel_err(c, from_vector(prod, {batch, m, n})) <= bound(dtype));
      }
    }
  }
  MESSAGE(fusion);
}

CORTEX_GPU_TEST("cuda gemm: the bias-gradient epilogue sums A over k") {
  for (DType dtype : {DType::f32, DType::bf16, DType::f64}) {
    for (bool a_transposed : {true, false}) {
      const std::string context = detail::concat(dtype_name(dtype), a_transposed ? " dY^T @ X" : " A @ B");
      INFO(context);
      // dW[features, in] = dY^T[features, rows] @ X[rows, in], db[features] = sum over rows of dY.
      const int64_t features = 17, rows = 129, in = 40;
      const Tensor dy = random({rows, features}, 71, dtype, gpu());
      const Tensor a = a_transposed ? dy : random({features, rows}, 72, dtype, gpu());
      const Tensor x = random({rows, in}, 73, dtype, gpu());
      Tensor dw = full({features, in}, 3, dtype, gpu());
      Tensor db = full({features}, 3, dtype, gpu());
      cuda::GemmParams p;
      p.dtype = dtype;
      p.m = features;
      p.n = in;
      p.k = rows;
      p.a = {a.data_ptr(), a_transposed ? features : rows, 0, a_transposed};
      p.b = {x.data_ptr(), in, 0, false};
      p.c = dw.data_ptr();
      p.ldc = in;
      p.epilogue = cuda::GemmEpilogue::bias_grad;
      p.bias_grad = db.data_ptr();
      const uint64_t unfused = cuda::gemm_cache_stats().unfused_epilogues;
      cuda::gemm(p);
      const std::string how = cuda::gemm_cache_stats().unfused_epilogues == unfused ? ": fused" : ": separate kernel";
      MESSAGE(context, how);
      const Tensor a_ref = a_transposed ? transpose_data(to_host64(dy), 0, 1) : to_host64(a);
      CHECK(rel_err(dw, matmul(a_ref, to_host64(x))) <= bound(dtype));
      CHECK(rel_err(db, sum(a_ref, {1})) <= bound(dtype));
    }
  }
}

CORTEX_GPU_TEST("cuda gemm: invalid parameters are errors naming the call") {
  const Tensor a = random({4, 4}, 81, DType::f32, gpu());
  cuda::GemmParams p;
  p.m = p.n = p.k = 4;
  p.a = {a.data_ptr(), 2, 0, false};  // ld 2 < 4 columns
  p.b = {a.data_ptr(), 4, 0, false};
  p.c = a.data_ptr();
  p.ldc = 4;
  try {
    cuda::gemm(p);
    FAIL("no throw");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("leading dimension") != std::string::npos);
  }
  p.a.ld = 4;
  p.dtype = DType::i32;
  CHECK_THROWS_AS(cuda::gemm(p), Error);
  p.dtype = DType::f32;
  p.epilogue = cuda::GemmEpilogue::bias;  // no bias pointer
  CHECK_THROWS_AS(cuda::gemm(p), Error);
}

#endif  // CORTEX_WITH_CUDA
