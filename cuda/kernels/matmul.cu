// matmul_kernel for CUDA on top of the cuBLASLt wrapper: 3-D views [B,M,K] x [B,K,N] -> [B,M,N]
// with transposes as strides and zero batch strides broadcasting; operands whose strides
// cuBLASLt cannot express are copied to contiguous memory first.
#include "cuda/gemm.h"
#include "cuda/runtime.h"
#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/matrix_layout.h"

namespace cortex::cuda {
namespace {

using MatrixView = MatrixLayout;

MatrixView view_of(const Tensor& t) { return matrix_layout(t.size(1), t.size(2), t.stride(1), t.stride(2)); }

GemmOperand operand(const Tensor& t, const MatrixView& v, int64_t batch) {
  return {t.data_ptr(), v.ld, batch > 1 ? t.stride(0) : 0, v.transposed};
}

// out (expressible as a matrix of rows-major or column-major batches) = a @ b (+ out).
void run(const Tensor& a, const Tensor& b, const Tensor& out, const MatrixView& ov, bool accumulate) {
  const int64_t batch = out.size(0);
  const MatrixView av = view_of(a), bv = view_of(b);
  GemmParams p;
  p.dtype = a.dtype();
  p.batch = batch;
  p.k = a.size(2);
  p.c = out.data_ptr();
  p.ldc = ov.ld;
  p.c_batch_stride = batch > 1 ? out.stride(0) : 0;
  p.beta = accumulate ? 1.0 : 0.0;
  if (!ov.transposed) {
    p.m = out.size(1);
    p.n = out.size(2);
    p.a = operand(a, av, batch);
    p.b = operand(b, bv, batch);
  } else {
    // Column-major out: out^T = b^T @ a^T, where a transposed read flips each operand's layout.
    p.m = out.size(2);
    p.n = out.size(1);
    p.a = operand(b, bv, batch);
    p.a.transposed = !p.a.transposed;
    p.b = operand(a, av, batch);
    p.b.transposed = !p.b.transposed;
  }
  gemm(p);
}

void cuda_matmul(const Tensor& a, const Tensor& b, const Tensor& out, bool accumulate) {
  CORTEX_CHECK(a.dim() == 3 && b.dim() == 3 && out.dim() == 3 && a.size(2) == b.size(1) &&
                   out.size(0) == a.size(0) && out.size(0) == b.size(0) && out.size(1) == a.size(1) &&
                   out.size(2) == b.size(2),
               "matmul", "CUDA kernel expects [B,M,K] x [B,K,N] -> [B,M,N], got ", a.describe(), " x ", b.describe(),
               " -> ", out.describe());
  CORTEX_CHECK(a.dtype() == b.dtype() && a.dtype() == out.dtype() && is_floating(a.dtype()), "matmul",
               "CUDA kernel needs one floating dtype, got ", a.describe(), " x ", b.describe(), " -> ",
               out.describe());
  if (out.numel() == 0) return;
  DeviceGuard guard(out.device().index);
  if (a.size(2) == 0) {
    if (!accumulate) fill_(out, 0.0);
    return;
  }
  const Tensor ac = view_of(a).ok ? a : contiguous_copy(a);
  const Tensor bc = view_of(b).ok ? b : contiguous_copy(b);
  const MatrixView ov = view_of(out);
  const int64_t batch = out.size(0), rows = ov.transposed ? out.size(2) : out.size(1);
  const bool batches_apart = batch == 1 || out.stride(0) >= rows * ov.ld;
  if (ov.ok && batches_apart) return run(ac, bc, out, ov, accumulate);
  Tensor dense = accumulate ? contiguous_copy(out) : empty(out.shape(), out.dtype(), out.device());
  run(ac, bc, dense, view_of(dense), accumulate);
  copy_(out, dense);
}

}  // namespace

CORTEX_REGISTER_KERNEL(matmul_kernel, CUDA, cuda_matmul);

}  // namespace cortex::cuda
