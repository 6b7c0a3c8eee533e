#include "cuda/pinned_pool.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <map>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "cuda/runtime.h"
#include "engine/factory.h"
#include "engine/parallel.h"

namespace cortex::cuda {

namespace {
constexpr size_t kMinClass = size_t(64) << 10;
constexpr size_t kPowerOfTwoLimit = size_t(64) << 20;
constexpr size_t kLargeStep = size_t(16) << 20;

struct Waiting {
  void* ptr;
  size_t size;
  cudaEvent_t event;
};
}  // namespace

struct PinnedPool::Impl {
  std::mutex mu;
  std::multimap<size_t, void*> free_buffers;  // by size class
  std::unordered_map<void*, size_t> in_use;
  std::vector<Waiting> waiting;  // released, the stream not yet past them
  std::vector<cudaEvent_t> spare_events;
  PinnedStats stats;

  void collect_finished() {
    std::vector<Waiting> still;
    for (const Waiting& w : waiting) {
      const cudaError_t err = cudaEventQuery(w.event);
      if (err == cudaErrorNotReady) {
        cudaGetLastError();
        still.push_back(w);
        continue;
      }
      if (err != cudaSuccess) {
        waiting = still;
        throw_cuda_error(err, "cudaEventQuery (pinned pool)", __FILE__, __LINE__);
      }
      spare_events.push_back(w.event);
      free_buffers.emplace(w.size, w.ptr);
    }
    waiting.swap(still);
  }

  void free_cached() {
    for (auto& [size, ptr] : free_buffers) {
      cudaFreeHost(ptr);
      stats.reserved_bytes -= size;
    }
    free_buffers.clear();
  }
};

PinnedPool::PinnedPool() : impl_(new Impl) {}

PinnedPool& PinnedPool::instance() {
  static PinnedPool* pool = new PinnedPool();  // never destroyed: see CachingAllocator::instance
  return *pool;
}

size_t PinnedPool::size_class(size_t nbytes) {
  if (nbytes <= kMinClass) return kMinClass;
  if (nbytes <= kPowerOfTwoLimit) {
    size_t c = kMinClass;
    while (c < nbytes) c <<= 1;
    return c;
  }
  return (nbytes + kLargeStep - 1) / kLargeStep * kLargeStep;
}

void* PinnedPool::acquire(size_t nbytes) {
  const size_t size = size_class(nbytes);
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->collect_finished();
  auto it = impl_->free_buffers.find(size);
  void* p = nullptr;
  if (it != impl_->free_buffers.end()) {
    p = it->second;
    impl_->free_buffers.erase(it);
  } else {
    cudaError_t err = cudaHostAlloc(&p, size, cudaHostAllocDefault);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      impl_->free_cached();
      err = cudaHostAlloc(&p, size, cudaHostAllocDefault);
    }
    if (err != cudaSuccess)
      throw_cuda_error(err, detail::concat("cudaHostAlloc of ", size, " pinned bytes").c_str(), __FILE__, __LINE__);
    impl_->stats.reserved_bytes += size;
    ++impl_->stats.host_alloc_count;
  }
  impl_->in_use.emplace(p, size);
  impl_->stats.in_use_bytes += size;
  return p;
}

void PinnedPool::release(void* ptr, cudaStream_t stream) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->in_use.find(ptr);
  if (it == impl_->in_use.end()) {
    std::fprintf(stderr, "cortex pinned pool: release of unknown buffer %p\n", ptr);
    return;
  }
  const size_t size = it->second;
  impl_->in_use.erase(it);
  impl_->stats.in_use_bytes -= size;
  cudaEvent_t e = nullptr;
  if (!impl_->spare_events.empty()) {
    e = impl_->spare_events.back();
    impl_->spare_events.pop_back();
  } else if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess) {
    e = nullptr;
  }
  if (e && cudaEventRecord(e, stream) == cudaSuccess) {
    impl_->waiting.push_back({ptr, size, e});
    return;
  }
  // Without an event (e.g. the runtime is shutting down) wait for the stream instead.
  cudaGetLastError();
  if (e) impl_->spare_events.push_back(e);
  cudaStreamSynchronize(stream);
  cudaGetLastError();
  impl_->free_buffers.emplace(size, ptr);
}

PinnedStats PinnedPool::stats() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->stats;
}

Tensor host_tensor_view(void* data, const Shape& shape, DType dtype) {
  const size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  auto storage = std::make_shared<StorageImpl>(DataPtr(data, [](void*) {}), nbytes, Device::cpu());
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), shape, contiguous_strides(shape), 0, dtype));
}

void pack_host(const Tensor& dst, const Tensor& src) {
  CORTEX_CHECK(dst.device().is_cpu() && src.device().is_cpu() && dst.is_contiguous() && dst.shape() == src.shape(),
               "pack_host", "expects a contiguous CPU destination of the source's shape, got ", dst.describe(), " <- ",
               src.describe());
  if (dst.dtype() != src.dtype() || !src.is_contiguous()) {
    copy_kernel().get(Device::cpu())(dst, src);
    return;
  }
  // One thread copies only a few GB/s; large batches are split over the cores.
  constexpr int64_t kChunk = int64_t(1) << 22;
  const int64_t n = static_cast<int64_t>(dst.nbytes());
  char* d = static_cast<char*>(dst.data_ptr());
  const char* s = static_cast<const char*>(src.data_ptr());
  if (n <= kChunk) {
    if (n > 0) std::memcpy(d, s, static_cast<size_t>(n));
    return;
  }
  parallel_for((n + kChunk - 1) / kChunk, 1, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      std::memcpy(d + i * kChunk, s + i * kChunk, static_cast<size_t>(std::min(kChunk, n - i * kChunk)));
  });
}

void PinnedPool::empty_cache() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->collect_finished();
  impl_->free_cached();
}

}  // namespace cortex::cuda
