#pragma once
// The CUDA device allocator: cudaMalloc'd segments are cached and carved into blocks, so
// steady-state training and serving never call cudaMalloc/cudaFree (both synchronise).
//
// Blocks are stream-ordered: a block freed by a tensor allocated on stream S is reused at
// once for later work on S (which runs after everything already enqueued there). A tensor
// also used on another stream must say so with record_stream(); its block is then reused
// only after events recorded on those streams at free time have completed.
//
// Requests are rounded to 512 B. Small ones (<= 1 MiB) are carved from 2 MiB segments,
// large ones from 20 MiB segments or, from 10 MiB up, from segments of their own size
// rounded to 2 MiB. A free block is found by best fit among blocks of the same stream and
// split when the remainder is worth keeping; freed neighbours coalesce. Blocks above the
// max split size (CORTEX_CUDA_MAX_SPLIT_MB, default 256) are never split. On cudaMalloc
// failure the cache is released and the call retried before an out-of-memory error.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>

#include "engine/allocator.h"
#include "engine/tensor.h"

namespace cortex::cuda {

struct AllocatorStats {
  size_t allocated_bytes = 0;  // in blocks handed out (rounded sizes)
  size_t requested_bytes = 0;  // as asked for
  size_t reserved_bytes = 0;   // cudaMalloc'd segments held, free or not
  size_t peak_allocated_bytes = 0;
  size_t peak_reserved_bytes = 0;
  size_t active_blocks = 0;
  size_t cached_free_bytes = 0;    // reserved bytes in free blocks (not waiting on events)
  size_t largest_free_block = 0;
  double fragmentation = 0;  // 1 - largest_free_block / cached_free_bytes; 0 when nothing is cached
  uint64_t cuda_malloc_count = 0;
  uint64_t cuda_free_count = 0;
  uint64_t alloc_retries = 0;  // cudaMalloc failures that released the cache and tried again
  uint64_t oom_count = 0;
};

// Pools private to one owner (a CUDA graph): allocations made while a private pool is active
// for the calling thread come from it and its memory is never handed to anyone else.
using PoolId = uint64_t;

class CachingAllocator final : public Allocator {
 public:
  // The allocator installed for DeviceType::CUDA; lives until process exit.
  static CachingAllocator& instance();

  DataPtr allocate(size_t nbytes, Device device) override;

  // Marks the block holding `ptr` (a pointer this allocator returned) as used on `stream`.
  void record_stream(int device, const void* ptr, cudaStream_t stream);

  AllocatorStats stats(int device);
  void reset_peak_stats(int device);
  // Waits for pending cross-stream frees and returns every wholly free segment to CUDA.
  void empty_cache();
  size_t max_split_size() const { return max_split_; }

  PoolId create_private_pool(int device);
  // Routes the calling thread's allocations on `device` to the pool until end_allocate_to_pool.
  // While active the thread is assumed to be capturing a graph: no cudaFree, no event queries.
  void begin_allocate_to_pool(int device, PoolId pool);
  void end_allocate_to_pool(int device);
  // The owner lets go: the pool's memory returns to CUDA once every block from it is freed.
  void release_private_pool(int device, PoolId pool);

  struct Impl;

 private:
  CachingAllocator();
  Impl* impl_;
  size_t max_split_;
};

// Tensor form of CachingAllocator::record_stream (CUDA tensors only; empty tensors are ignored).
void record_stream(const Tensor& t, cudaStream_t stream);
AllocatorStats allocator_stats(int device);
void empty_cache();

}  // namespace cortex::cuda
