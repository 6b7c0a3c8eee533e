// The op profiler's CUDA clock: events on the current stream around each kernel call.
// Waiting for the end event serialises the host with the device while profiling, which is
// what makes each kernel's device time its own.
#include <cuda_runtime.h>

#include "cuda/runtime.h"
#include "engine/op_profiler.h"

namespace cortex::cuda {
namespace {

struct EventPair {
  cudaEvent_t start = nullptr, stop = nullptr;
  cudaStream_t stream = nullptr;
  int device = 0;
};

void* start_clock(Device device) {
  DeviceGuard guard(device.index);
  cudaStream_t stream = current_stream(device.index);
  if (is_capturing(stream)) return nullptr;  // a captured launch runs later, at replay
  auto* pair = new EventPair{nullptr, nullptr, stream, device.index};
  CORTEX_CUDA_CHECK(cudaEventCreate(&pair->start));
  CORTEX_CUDA_CHECK(cudaEventCreate(&pair->stop));
  CORTEX_CUDA_CHECK(cudaEventRecord(pair->start, stream));
  return pair;
}

double stop_clock(void* token) {
  auto* pair = static_cast<EventPair*>(token);
  DeviceGuard guard(pair->device);
  float ms = 0;
  CORTEX_CUDA_CHECK(cudaEventRecord(pair->stop, pair->stream));
  CORTEX_CUDA_CHECK(cudaEventSynchronize(pair->stop));
  CORTEX_CUDA_CHECK(cudaEventElapsedTime(&ms, pair->start, pair->stop));
  cudaEventDestroy(pair->start);
  cudaEventDestroy(pair->stop);
  delete pair;
  return ms;
}

const bool g_clock_registered =
    (profiler::register_device_clock(DeviceType::CUDA, {&start_clock, &stop_clock}), true);

}  // namespace
}  // namespace cortex::cuda
