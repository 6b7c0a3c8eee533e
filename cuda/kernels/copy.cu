// copy_kernel for CUDA: device<->device (strided, with dtype conversion), host<->device
// (contiguous same-dtype directly, otherwise packed on the host through pinned memory).
#include "cuda/caching_allocator.h"
#include "cuda/strided_meta.h"
#include "cuda/pinned_pool.h"
#include "cuda/runtime.h"
#include "engine/factory.h"

namespace cortex::cuda {
namespace {

constexpr int kThreads = 256;

constexpr int kUnroll = 4;  // loads in flight per thread before the first store

template <typename D, typename S>
__global__ void convert_copy(D* __restrict__ out, const S* __restrict__ in, int64_t n, StridedMeta<2> m) {
  const int64_t tile = static_cast<int64_t>(blockDim.x) * kUnroll;
  for (int64_t base = blockIdx.x * tile; base < n; base += gridDim.x * tile) {
    S v[kUnroll];
    int64_t dst[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int64_t i = base + u * blockDim.x + threadIdx.x;
      if (i < n) {
        const auto off = m.offsets(i);
        dst[u] = off[0];
        v[u] = in[off[1]];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u)
      if (base + u * blockDim.x + threadIdx.x < n) out[dst[u]] = convert<D>(v[u]);
  }
}

// Device-side strided copy with conversion; both tensors on the current device.
void device_copy(const Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  const int device = dst.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = current_stream(device);
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    CORTEX_CUDA_CHECK(
        cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToDevice, stream));
    return;
  }
  const StridedMeta<2> meta = make_strided_meta<2>("copy_", dst.shape(), {&dst.strides(), &src.strides()});
  visit_dtype(dst.dtype(), "copy_", [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    visit_dtype(src.dtype(), "copy_", [&](auto stag) {
      using S = typename decltype(stag)::type;
      convert_copy<D, S><<<grid_blocks((n + kUnroll - 1) / kUnroll, kThreads, device), kThreads, 0, stream>>>(
          static_cast<D*>(dst.data_ptr()), static_cast<const S*>(src.data_ptr()), n, meta);
      CORTEX_CUDA_CHECK_LAUNCH("convert_copy");
    });
  });
}

void check_not_capturing(cudaStream_t stream, const Tensor& dst, const Tensor& src) {
  CORTEX_CHECK(!is_capturing(stream), "copy_",
               "host<->device copies cannot be captured in a CUDA graph (", dst.describe(), " <- ", src.describe(),
               "); copy inputs into static device tensors before replaying instead");
}

void host_to_device(const Tensor& dst, const Tensor& src) {
  const int device = dst.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = current_stream(device);
  check_not_capturing(stream, dst, src);
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    // From pageable memory the call returns once the source has been consumed.
    CORTEX_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyHostToDevice, stream));
    return;
  }
  // Pack (and convert) on the host into pinned memory in dst's dtype, then one DMA; the
  // buffer is reused only after the stream has passed the copy.
  PinnedBuffer staging(dst.nbytes(), stream);
  Tensor packed = host_tensor_view(staging.get(), dst.shape(), dst.dtype());
  pack_host(packed, src);
  if (dst.is_contiguous()) {
    CORTEX_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), staging.get(), dst.nbytes(), cudaMemcpyHostToDevice, stream));
    return;
  }
  Tensor dense = empty(dst.shape(), dst.dtype(), dst.device());
  CORTEX_CUDA_CHECK(cudaMemcpyAsync(dense.data_ptr(), staging.get(), dst.nbytes(), cudaMemcpyHostToDevice, stream));
  device_copy(dst, dense);
}

void device_to_host(const Tensor& dst, const Tensor& src) {
  const int device = src.device().index;
  DeviceGuard guard(device);
  cudaStream_t stream = current_stream(device);
  check_not_capturing(stream, dst, src);
  if (dst.dtype() == src.dtype() && dst.is_contiguous() && src.is_contiguous()) {
    CORTEX_CUDA_CHECK(cudaMemcpyAsync(dst.data_ptr(), src.data_ptr(), dst.nbytes(), cudaMemcpyDeviceToHost, stream));
    CORTEX_CUDA_CHECK(cudaStreamSynchronize(stream));
    return;
  }
  // Gather on the device, one DMA into pinned memory, then scatter and convert on the host.
  Tensor dense = src.is_contiguous() ? src : empty(src.shape(), src.dtype(), src.device());
  if (!src.is_contiguous()) device_copy(dense, src);
  PinnedBuffer staging(src.nbytes(), stream);
  CORTEX_CUDA_CHECK(cudaMemcpyAsync(staging.get(), dense.data_ptr(), src.nbytes(), cudaMemcpyDeviceToHost, stream));
  CORTEX_CUDA_CHECK(cudaStreamSynchronize(stream));
  copy_kernel().get(Device::cpu())(dst, host_tensor_view(staging.get(), src.shape(), src.dtype()));
}

void peer_copy(const Tensor& dst, const Tensor& src) {
  const int src_device = src.device().index, dst_device = dst.device().index;
  Tensor dense = src.is_contiguous() ? src : contiguous_copy(src);  // on the source device
  Tensor landing = empty(src.shape(), src.dtype(), dst.device());
  cudaStream_t dst_stream = current_stream(dst_device);
  {
    // The destination stream must see the source's producers finished.
    DeviceGuard guard(src_device);
    cudaEvent_t ready = nullptr;
    CORTEX_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
    CORTEX_CUDA_CHECK(cudaEventRecord(ready, current_stream(src_device)));
    CORTEX_CUDA_CHECK(cudaStreamWaitEvent(dst_stream, ready, 0));
    CORTEX_CUDA_CHECK(cudaEventDestroy(ready));
  }
  DeviceGuard guard(dst_device);
  CORTEX_CUDA_CHECK(cudaMemcpyPeerAsync(landing.data_ptr(), dst_device, dense.data_ptr(), src_device, src.nbytes(),
                                        dst_stream));
  record_stream(dense, dst_stream);  // freed on the source stream, read by the destination's
  device_copy(dst, landing);
}

void cuda_copy(const Tensor& dst, const Tensor& src) {
  if (dst.numel() == 0) return;
  const bool dst_cuda = dst.device().is_cuda(), src_cuda = src.device().is_cuda();
  if (dst_cuda && src_cuda) {
    if (dst.device() == src.device()) device_copy(dst, src);
    else peer_copy(dst, src);
  } else if (dst_cuda) {
    host_to_device(dst, src);
  } else if (src_cuda) {
    device_to_host(dst, src);
  } else {
    copy_kernel().get(Device::cpu())(dst, src);
  }
}

}  // namespace

CORTEX_REGISTER_KERNEL(copy_kernel, CUDA, cuda_copy);

}  // namespace cortex::cuda
