#pragma once
// Cached page-locked host buffers for host<->device copies. Copies from pinned memory are
// truly asynchronous (the host does not wait for the DMA), and pinning is slow, so buffers
// are kept and reused. A released buffer is reused only after the stream it was used on has
// finished the work enqueued before the release.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "engine/tensor.h"

namespace cortex::cuda {

struct PinnedStats {
  size_t reserved_bytes = 0;  // pinned memory held, in use or cached
  size_t in_use_bytes = 0;
  uint64_t host_alloc_count = 0;  // cudaHostAlloc calls
};

class PinnedPool {
 public:
  static PinnedPool& instance();

  // A pinned buffer of at least nbytes (sizes are rounded up to a size class).
  void* acquire(size_t nbytes);
  // Gives the buffer back; reusable once everything enqueued on `stream` so far has completed.
  void release(void* ptr, cudaStream_t stream);
  PinnedStats stats();
  // Frees every cached buffer that is not in use or waiting on a stream.
  void empty_cache();

  // Size class of a request: powers of two from 64 KiB up to 64 MiB, then multiples of 16 MiB.
  static size_t size_class(size_t nbytes);

  struct Impl;

 private:
  PinnedPool();
  Impl* impl_;
};

// A pinned buffer for one scope: acquired on construction, released on `stream` at destruction.
class PinnedBuffer {
 public:
  PinnedBuffer(size_t nbytes, cudaStream_t stream) : ptr_(PinnedPool::instance().acquire(nbytes)), stream_(stream) {}
  ~PinnedBuffer() { PinnedPool::instance().release(ptr_, stream_); }
  PinnedBuffer(const PinnedBuffer&) = delete;
  PinnedBuffer& operator=(const PinnedBuffer&) = delete;
  void* get() const { return ptr_; }

 private:
  void* ptr_;
  cudaStream_t stream_;
};

// A contiguous CPU tensor over memory owned elsewhere (e.g. a pinned buffer); no copy, no ownership.
Tensor host_tensor_view(void* data, const Shape& shape, DType dtype);

// Copies CPU tensor src into the contiguous CPU tensor dst of the same shape (into a staging
// buffer): a memcpy split over all cores when dtypes match and src is contiguous, the CPU
// copy kernel (strides, conversion) otherwise.
void pack_host(const Tensor& dst, const Tensor& src);

}  // namespace cortex::cuda
