// CUDA fused_linear_kernel: one cuBLASLt GEMM whose epilogue adds the bias and applies the
// GELU (cuda/gemm.cpp runs the epilogue as separate kernels where cuBLASLt cannot fuse it);
// a residual enters as the GEMM's beta term, read from its own buffer.
#include "cuda/gemm.h"
#include "cuda/kernels/launch.cuh"
#include "ops/fused_linear.h"

namespace cortex::cuda {
namespace {

GemmEpilogue epilogue_of(bool has_bias, LinearActivation act) {
  if (act == LinearActivation::gelu) return has_bias ? GemmEpilogue::bias_gelu : GemmEpilogue::gelu;
  return has_bias ? GemmEpilogue::bias : GemmEpilogue::none;
}

void cuda_fused_linear(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act,
                       const Tensor& residual, const Tensor& out) {
  CORTEX_CHECK(x.dim() == 2 && x.stride(1) == 1 && w.dim() == 2 && w.is_contiguous() && out.is_contiguous() &&
                   (!bias.defined() || bias.is_contiguous()) &&
                   (!residual.defined() || (residual.is_contiguous() && residual.shape() == out.shape())),
               "fused_linear", "CUDA kernel expects x [M, K] with unit column stride, contiguous w, bias and out; got ",
               x.describe(), ", ", w.describe(), " -> ", out.describe());
  DeviceScope scope(out);
  const int64_t m = x.size(0), k = x.size(1), n = w.size(0);
  GemmParams p;
  p.dtype = x.dtype();
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = {x.data_ptr(), m > 1 ? x.stride(0) : k, 0, false};
  p.b = {w.data_ptr(), k, 0, true};  // w [N, K] read as w^T [K, N]
  p.c = out.data_ptr();
  p.ldc = n;
  p.epilogue = epilogue_of(bias.defined(), act);
  p.bias = bias.defined() ? bias.data_ptr() : nullptr;
  if (residual.defined()) {
    CORTEX_CHECK(act == LinearActivation::none, "fused_linear", "a residual goes with no activation");
    p.c_in = residual.data_ptr();
    p.beta = 1.0;
  }
  gemm(p);
}

}  // namespace

CORTEX_REGISTER_KERNEL(fused_linear_kernel, CUDA, cuda_fused_linear);

}  // namespace cortex::cuda
