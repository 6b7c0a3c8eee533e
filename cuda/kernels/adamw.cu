// CUDA adamw_kernel: one fused multi-tensor launch for a whole list of parameters.
// The tensors' pointers, sizes and dtypes travel in the kernel's parameter block (no
// host-to-device copy, so the step can be captured in a CUDA graph); each block updates
// one chunk of one tensor. Element dtypes are read at run time (a uniform branch), so a
// single launch covers f32/bf16/f16 params with any gradient and model-copy dtypes.
// The arithmetic is the CPU kernel's, in f32 (f64 for f64 params and their state).
#include <type_traits>

#include "cuda/kernels/launch.cuh"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

constexpr int kAdamThreads = 256;
constexpr int64_t kAdamChunk = 16384;  // elements per block
constexpr int kAdamMaxTensors = 32;
constexpr int kAdamMaxBlocks = 320;

constexpr uint8_t kNoCopy = 0xff;

struct AdamWTensor {
  void* param;
  const void* grad;
  void* exp_avg;
  void* exp_avg_sq;
  void* copy;
  int64_t numel;
  uint8_t param_dtype, grad_dtype, copy_dtype;
};

// Kept under the classic 4 KB kernel-parameter limit.
struct AdamWBatch {
  AdamWTensor tensors[kAdamMaxTensors];
  uint8_t block_tensor[kAdamMaxBlocks];
  int32_t block_chunk[kAdamMaxBlocks];
};
static_assert(sizeof(AdamWBatch) < 4000, "AdamWBatch must fit the kernel parameter block");

template <typename C>
struct AdamWConstants {
  C decay, beta1, beta2, one_minus_beta1, one_minus_beta2, step_size, inv_sqrt_bias2, eps;
};

template <typename C>
__device__ __forceinline__ C load_as(const void* p, int64_t i, uint8_t dtype) {
  switch (static_cast<DType>(dtype)) {
    case DType::f64: return static_cast<C>(static_cast<const double*>(p)[i]);
    case DType::bf16: return static_cast<C>(static_cast<float>(static_cast<const bfloat16*>(p)[i]));
    case DType::f16: return static_cast<C>(static_cast<float>(static_cast<const float16*>(p)[i]));
    default: return static_cast<C>(static_cast<const float*>(p)[i]);
  }
}

template <typename C>
__device__ __forceinline__ void store_as(void* p, int64_t i, uint8_t dtype, C v) {
  switch (static_cast<DType>(dtype)) {
    case DType::f64: static_cast<double*>(p)[i] = convert<double>(v); break;
    case DType::bf16: static_cast<bfloat16*>(p)[i] = convert<bfloat16>(v); break;
    case DType::f16: static_cast<float16*>(p)[i] = convert<float16>(v); break;
    default: static_cast<float*>(p)[i] = convert<float>(v); break;
  }
}

template <typename C>
__global__ void __launch_bounds__(kAdamThreads) adamw_multi_tensor_kernel(AdamWBatch batch, AdamWConstants<C> k) {
  const AdamWTensor& t = batch.tensors[batch.block_tensor[blockIdx.x]];
  const int64_t begin = int64_t{batch.block_chunk[blockIdx.x]} * kAdamChunk;
  const int64_t end = begin + kAdamChunk < t.numel ? begin + kAdamChunk : t.numel;
  C* m = static_cast<C*>(t.exp_avg);
  C* v = static_cast<C*>(t.exp_avg_sq);
  constexpr int kUnroll = 4;  // loads of four elements in flight before the first store
  for (int64_t base = begin + threadIdx.x; base < end; base += kAdamThreads * kUnroll) {
    C g[kUnroll], mi[kUnroll], vi[kUnroll], p[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * kAdamThreads;
      if (i < end) {
        g[u] = load_as<C>(t.grad, i, t.grad_dtype);
        mi[u] = m[i];
        vi[u] = v[i];
        p[u] = load_as<C>(t.param, i, t.param_dtype);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * kAdamThreads;
      if (i >= end) break;
      mi[u] = k.beta1 * mi[u] + k.one_minus_beta1 * g[u];
      vi[u] = k.beta2 * vi[u] + k.one_minus_beta2 * g[u] * g[u];
      m[i] = mi[u];
      v[i] = vi[u];
      p[u] = p[u] * k.decay - k.step_size * mi[u] / (sqrt(vi[u]) * k.inv_sqrt_bias2 + k.eps);
      store_as(t.param, i, t.param_dtype, p[u]);
      if (t.copy_dtype != kNoCopy) store_as(t.copy, i, t.copy_dtype, p[u]);
    }
  }
}

void check_tensor(const Tensor& t, const Tensor& param, DType dtype, const char* what, size_t i) {
  CORTEX_CHECK(t.defined() && t.is_contiguous() && t.shape() == param.shape() && t.dtype() == dtype &&
                   t.device() == param.device(),
               "adamw", what, " ", i, " must be contiguous ", dtype_name(dtype), shape_str(param.shape()), " on ",
               param.device().str(), ", got ", t.defined() ? t.describe() : "undefined");
}

template <typename C>
void launch_adamw(const std::vector<size_t>& which, const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                  const std::vector<Tensor>& exp_avg, const std::vector<Tensor>& exp_avg_sq,
                  const std::vector<Tensor>& model_copies, const AdamWHyper& h) {
  const double t = static_cast<double>(h.step);
  const AdamWConstants<C> k{static_cast<C>(1.0 - h.lr * h.weight_decay),
                            static_cast<C>(h.beta1),
                            static_cast<C>(h.beta2),
                            static_cast<C>(1.0 - h.beta1),
                            static_cast<C>(1.0 - h.beta2),
                            static_cast<C>(h.lr / (1.0 - std::pow(h.beta1, t))),
                            static_cast<C>(1.0 / std::sqrt(1.0 - std::pow(h.beta2, t))),
                            static_cast<C>(h.eps)};
  cudaStream_t stream = current_stream();
  AdamWBatch batch{};
  int tensors = 0, blocks = 0;
  auto flush = [&] {
    if (blocks == 0) return;
    adamw_multi_tensor_kernel<C><<<blocks, kAdamThreads, 0, stream>>>(batch, k);
    CORTEX_CUDA_CHECK_LAUNCH("adamw");
    tensors = blocks = 0;
  };
  for (size_t i : which) {
    const int64_t n = params[i].numel();
    if (n == 0) continue;
    const Tensor copy = model_copies.empty() ? Tensor() : model_copies[i];
    const AdamWTensor entry{params[i].data_ptr(),
                            grads[i].data_ptr(),
                            exp_avg[i].data_ptr(),
                            exp_avg_sq[i].data_ptr(),
                            copy.defined() ? copy.data_ptr() : nullptr,
                            n,
                            static_cast<uint8_t>(params[i].dtype()),
                            static_cast<uint8_t>(grads[i].dtype()),
                            copy.defined() ? static_cast<uint8_t>(copy.dtype()) : kNoCopy};
    const int64_t chunks = ceil_div(n, kAdamChunk);
    CORTEX_CHECK(chunks < (int64_t{1} << 31), "adamw", "tensor ", i, " is too large: ", params[i].describe());
    for (int64_t c = 0; c < chunks; ++c) {
      if (c == 0 || blocks == 0) {  // (re)register the tensor in this batch
        if (tensors == kAdamMaxTensors) flush();
        batch.tensors[tensors++] = entry;
      }
      batch.block_tensor[blocks] = static_cast<uint8_t>(tensors - 1);
      batch.block_chunk[blocks] = static_cast<int32_t>(c);
      if (++blocks == kAdamMaxBlocks) flush();
    }
  }
  flush();
}

void cuda_adamw(const std::vector<Tensor>& params, const std::vector<Tensor>& grads, const std::vector<Tensor>& exp_avg,
                const std::vector<Tensor>& exp_avg_sq, const std::vector<Tensor>& model_copies, const AdamWHyper& h) {
  const size_t n = params.size();
  CORTEX_CHECK(grads.size() == n && exp_avg.size() == n && exp_avg_sq.size() == n &&
                   (model_copies.empty() || model_copies.size() == n),
               "adamw", "list lengths differ: ", n, " params, ", grads.size(), " grads, ", exp_avg.size(), " exp_avg, ",
               exp_avg_sq.size(), " exp_avg_sq, ", model_copies.size(), " model copies");
  CORTEX_CHECK(h.step >= 1, "adamw", "step must be at least 1, got ", h.step);
  if (n == 0) return;
  std::vector<size_t> single, dbl;
  for (size_t i = 0; i < n; ++i) {
    const Tensor& p = params[i];
    CORTEX_CHECK(p.defined() && p.is_contiguous() && is_floating(p.dtype()) && p.device().is_cuda() &&
                     p.device() == params[0].device(),
                 "adamw", "param ", i, " must be a contiguous floating tensor on ", params[0].device().str(), ", got ",
                 p.defined() ? p.describe() : "undefined");
    const DType state = p.dtype() == DType::f64 ? DType::f64 : DType::f32;
    CORTEX_CHECK(grads[i].defined() && is_floating(grads[i].dtype()), "adamw", "grad ", i, " must be floating, got ",
                 grads[i].defined() ? grads[i].describe() : "undefined");
    check_tensor(grads[i], p, grads[i].dtype(), "grad", i);
    check_tensor(exp_avg[i], p, state, "exp_avg", i);
    check_tensor(exp_avg_sq[i], p, state, "exp_avg_sq", i);
    const Tensor copy = model_copies.empty() ? Tensor() : model_copies[i];
    if (copy.defined()) {
      CORTEX_CHECK(is_floating(copy.dtype()), "adamw", "model copy ", i, " must be floating, got ", copy.describe());
      check_tensor(copy, p, copy.dtype(), "model copy", i);
    }
    (state == DType::f64 ? dbl : single).push_back(i);
  }
  DeviceScope scope(params[0]);
  launch_adamw<float>(single, params, grads, exp_avg, exp_avg_sq, model_copies, h);
  launch_adamw<double>(dbl, params, grads, exp_avg, exp_avg_sq, model_copies, h);
}

}  // namespace

CORTEX_REGISTER_KERNEL(adamw_kernel, CUDA, cuda_adamw);

}  // namespace cortex::cuda
