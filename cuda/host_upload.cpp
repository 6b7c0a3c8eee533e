#include "cuda/host_upload.h"

#include "cuda/caching_allocator.h"
#include "cuda/pinned_pool.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#include "engine/factory.h"

namespace cortex::cuda {

Tensor upload_async(const Tensor& host, Device device, cudaStream_t copy_stream) {
  CORTEX_CHECK(host.defined() && host.device().is_cpu() && device.is_cuda(), "upload_async",
               "expects a CPU tensor and a CUDA device, got ", host.defined() ? host.describe() : "undefined", " -> ",
               device.str());
  DeviceGuard guard(device.index);
  const cudaStream_t consumer = current_stream(device.index);
  Tensor out;
  {
    // Allocated from the copy stream's pool: no ordering against pending compute work needed.
    StreamGuard on_copy_stream(copy_stream);
    out = empty(host.shape(), host.dtype(), device);
    if (out.numel() == 0) return out;
    PinnedBuffer staging(out.nbytes(), copy_stream);
    pack_host(host_tensor_view(staging.get(), host.shape(), host.dtype()), host);
    CORTEX_CUDA_CHECK(cudaMemcpyAsync(out.data_ptr(), staging.get(), out.nbytes(), cudaMemcpyHostToDevice, copy_stream));
  }
  stream_wait_stream(consumer, copy_stream);
  record_stream(out, consumer);
  return out;
}

}  // namespace cortex::cuda
