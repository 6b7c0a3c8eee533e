// CPU matmul through OpenBLAS. 16-bit floats are widened to f32 first.
#include <cblas.h>

#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/matrix_layout.h"

namespace cortex {
namespace {

template <typename T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const T* a, int64_t lda, const T* b, int64_t ldb,
          T beta, T* c, int64_t ldc) {
  const auto opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
  if constexpr (std::is_same_v<T, float>)
    cblas_sgemm(CblasRowMajor, opa, opb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
  else
    cblas_dgemm(CblasRowMajor, opa, opb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}

template <typename T>
void matmul_blas(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  // Operands BLAS cannot read as they are get a contiguous copy.
  Tensor ac = a, bc = b;
  if (!matrix_layout(a.size(1), a.size(2), a.stride(1), a.stride(2)).ok) ac = contiguous_copy(a);
  if (!matrix_layout(b.size(1), b.size(2), b.stride(1), b.stride(2)).ok) bc = contiguous_copy(b);
  const bool out_direct = out.stride(2) == 1 || out.size(2) == 1;
  Tensor oc = out_direct ? out : contiguous_copy(out);
  const MatrixLayout va = matrix_layout(ac.size(1), ac.size(2), ac.stride(1), ac.stride(2));
  const MatrixLayout vb = matrix_layout(bc.size(1), bc.size(2), bc.stride(1), bc.stride(2));
  const int64_t m = out.size(1), n = out.size(2), k = a.size(2);
  const int64_t ldc = m == 1 ? std::max<int64_t>(n, 1) : oc.stride(1);
  const T* pa = static_cast<const T*>(ac.data_ptr());
  const T* pb = static_cast<const T*>(bc.data_ptr());
  T* pc = static_cast<T*>(oc.data_ptr());
  for (int64_t i = 0; i < out.size(0); ++i)
    gemm<T>(va.transposed, vb.transposed, m, n, k, pa + i * ac.stride(0), va.ld, pb + i * bc.stride(0), vb.ld,
            accumulate ? T(1) : T(0), pc + i * oc.stride(0), ldc);
  if (!out_direct) copy_(out, oc);
}

void cpu_matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  switch (a.dtype()) {
    case DType::f32: return matmul_blas<float>(a, b, out, accumulate);
    case DType::f64: return matmul_blas<double>(a, b, out, accumulate);
    case DType::bf16:
    case DType::f16: {
      Tensor o32 = data_to_dtype(out, DType::f32);
      matmul_blas<float>(data_to_dtype(a, DType::f32), data_to_dtype(b, DType::f32), o32, accumulate);
      copy_(out, o32);
      return;
    }
    default: CORTEX_FAIL("matmul", "unsupported dtype ", dtype_name(a.dtype()));
  }
}

}  // namespace

CORTEX_REGISTER_KERNEL(matmul_kernel, CPU, cpu_matmul);

}  // namespace cortex
