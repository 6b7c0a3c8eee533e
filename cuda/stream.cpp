#include "cuda/stream.h"

#include <utility>

#include "cuda/runtime.h"

namespace cortex::cuda {

Stream::Stream(int device, int priority) : device_(device < 0 ? current_device() : device) {
  DeviceGuard guard(device_);
  CORTEX_CUDA_CHECK(cudaStreamCreateWithPriority(&stream_, cudaStreamNonBlocking, priority));
}

void Stream::destroy() noexcept {
  if (!stream_) return;
  cudaStreamSynchronize(stream_);
  cudaStreamDestroy(stream_);
  stream_ = nullptr;
}

Stream::~Stream() { destroy(); }

Stream::Stream(Stream&& other) noexcept
    : stream_(std::exchange(other.stream_, nullptr)), device_(other.device_) {}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    destroy();
    stream_ = std::exchange(other.stream_, nullptr);
    device_ = other.device_;
  }
  return *this;
}

void Stream::synchronize() const { CORTEX_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

bool Stream::query() const {
  const cudaError_t err = cudaStreamQuery(stream_);
  if (err == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  CORTEX_CUDA_CHECK(err);
  return true;
}

void Stream::wait(const Event& event) const { CORTEX_CUDA_CHECK(cudaStreamWaitEvent(stream_, event.get(), 0)); }

Event::Event(bool timing) {
  CORTEX_CUDA_CHECK(cudaEventCreateWithFlags(&event_, timing ? cudaEventDefault : cudaEventDisableTiming));
}

Event::~Event() {
  if (event_) cudaEventDestroy(event_);
}

Event::Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    if (event_) cudaEventDestroy(event_);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

void Event::record(cudaStream_t stream) { CORTEX_CUDA_CHECK(cudaEventRecord(event_, stream)); }
void Event::synchronize() const { CORTEX_CUDA_CHECK(cudaEventSynchronize(event_)); }

bool Event::query() const {
  const cudaError_t err = cudaEventQuery(event_);
  if (err == cudaErrorNotReady) {
    cudaGetLastError();
    return false;
  }
  CORTEX_CUDA_CHECK(err);
  return true;
}

float Event::elapsed_ms(const Event& end) const {
  float ms = 0;
  CORTEX_CUDA_CHECK(cudaEventElapsedTime(&ms, event_, end.event_));
  return ms;
}

void stream_wait_stream(cudaStream_t waiter, cudaStream_t producer) {
  if (waiter == producer) return;
  Event e;
  e.record(producer);
  CORTEX_CUDA_CHECK(cudaStreamWaitEvent(waiter, e.get(), 0));
}

}  // namespace cortex::cuda
