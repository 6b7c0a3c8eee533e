#pragma once
// Owning wrappers for CUDA streams and events.
#include <cuda_runtime.h>

namespace cortex::cuda {

class Event;

// A non-blocking stream on one device. Destruction waits for the stream's work first, so a
// new stream that reuses the handle never overlaps the old one's tail (the allocator keys
// its pools by stream handle).
class Stream {
 public:
  explicit Stream(int device = -1, int priority = 0);  // -1: the current device
  ~Stream();
  Stream(Stream&& other) noexcept;
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  cudaStream_t get() const { return stream_; }
  operator cudaStream_t() const { return stream_; }
  int device() const { return device_; }

  void synchronize() const;
  bool query() const;  // true when all work enqueued so far has finished
  void wait(const Event& event) const;  // later work on this stream waits for the event

 private:
  void destroy() noexcept;
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
};

// A CUDA event; timing events measure elapsed time between two records.
class Event {
 public:
  explicit Event(bool timing = false);
  ~Event();
  Event(Event&& other) noexcept;
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;

  cudaEvent_t get() const { return event_; }
  void record(cudaStream_t stream);
  void synchronize() const;
  bool query() const;  // true when the recorded work has finished
  // Milliseconds from this event's record to `end`'s; both must be timing events.
  float elapsed_ms(const Event& end) const;

 private:
  cudaEvent_t event_ = nullptr;
};

// Makes later work on `waiter` wait for everything enqueued so far on `producer`, without blocking the host.
void stream_wait_stream(cudaStream_t waiter, cudaStream_t producer);

}  // namespace cortex::cuda
