#include "serve/worker_stream.h"

#ifdef CORTEX_WITH_CUDA
#include <map>

#include "cuda/runtime.h"
#include "cuda/stream.h"
#endif

namespace cortex::serve {

void use_worker_stream(Device device) {
#ifdef CORTEX_WITH_CUDA
  if (!device.is_cuda()) return;
  // Destroyed when the worker thread exits (after waiting for its work).
  thread_local std::map<int, cuda::Stream> streams;
  auto it = streams.find(device.index);
  if (it == streams.end()) {
    cuda::DeviceGuard guard(device.index);
    it = streams.emplace(device.index, cuda::Stream(device.index)).first;
    // Whatever start-up left queued on the device's default stream (weight uploads and
    // conversions, the cache pool) comes first.
    cuda::stream_wait_stream(it->second, cuda::default_stream(device.index));
  }
  cuda::set_current_stream(device.index, it->second);
#else
  (void)device;
#endif
}

void wait_worker_stream(Device device) {
#ifdef CORTEX_WITH_CUDA
  if (!device.is_cuda()) return;
  cuda::DeviceGuard guard(device.index);
  CORTEX_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream(device.index)));
#else
  (void)device;
#endif
}

}  // namespace cortex::serve
