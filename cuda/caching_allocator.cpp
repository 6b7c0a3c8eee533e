#include "cuda/caching_allocator.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "cuda/allocation_sizes.h"
#include "cuda/runtime.h"

namespace cortex::cuda {

using namespace alloc;

namespace {

struct BlockPool;

// A piece of a segment. Neighbours in the same segment are linked so that free ones coalesce.
struct Block {
  int device = 0;
  cudaStream_t stream = nullptr;  // the stream it was allocated on
  size_t size = 0;
  size_t requested = 0;
  char* ptr = nullptr;
  BlockPool* pool = nullptr;
  Block* prev = nullptr;
  Block* next = nullptr;
  bool allocated = false;  // handed out, or freed but still waiting on events
  int pending_events = 0;
  std::vector<cudaStream_t> stream_uses;  // other streams that used it (record_stream)
};

// Free blocks ordered by (stream, size, address): lower_bound finds the best fit on a stream.
struct BlockLess {
  bool operator()(const Block* a, const Block* b) const {
    if (a->stream != b->stream) return reinterpret_cast<uintptr_t>(a->stream) < reinterpret_cast<uintptr_t>(b->stream);
    if (a->size != b->size) return a->size < b->size;
    return reinterpret_cast<uintptr_t>(a->ptr) < reinterpret_cast<uintptr_t>(b->ptr);
  }
};

struct PrivatePool;

struct BlockPool {
  BlockPool(bool small_pool, PrivatePool* owner_pool) : small(small_pool), owner(owner_pool) {}
  std::set<Block*, BlockLess> blocks;
  bool small;
  PrivatePool* owner;  // null for the shared pools
};

struct PrivatePool {
  PrivatePool() : small(true, this), large(false, this) {}
  BlockPool small, large;
  int owners = 1;
  size_t segments = 0;
};

// Allocations during capture must not invalidate it: cudaMalloc is not stream-ordered and
// is refused in the stricter capture modes, so it runs in relaxed mode.
cudaError_t malloc_capture_safe(void** p, size_t n) {
  cudaStreamCaptureMode mode = cudaStreamCaptureModeRelaxed;
  cudaThreadExchangeStreamCaptureMode(&mode);
  const cudaError_t err = cudaMalloc(p, n);
  cudaThreadExchangeStreamCaptureMode(&mode);
  return err;
}

std::string format_bytes(size_t n) {
  const double v = static_cast<double>(n);
  char buf[64];
  if (n >= (size_t(1) << 40)) std::snprintf(buf, sizeof buf, "%.2f TiB", v / double(size_t(1) << 40));
  else if (n >= (size_t(1) << 30)) std::snprintf(buf, sizeof buf, "%.2f GiB", v / double(size_t(1) << 30));
  else if (n >= kMiB) std::snprintf(buf, sizeof buf, "%.2f MiB", v / double(kMiB));
  else std::snprintf(buf, sizeof buf, "%zu bytes", n);
  return buf;
}

// Per thread and device: the private pool allocations go to (0: none).
thread_local std::vector<PoolId> t_private_pool;

PoolId active_private_pool(int device) {
  return static_cast<size_t>(device) < t_private_pool.size() ? t_private_pool[device] : 0;
}

size_t max_split_from_env() {
  size_t mb = 256;
  if (const char* v = std::getenv("CORTEX_CUDA_MAX_SPLIT_MB")) {
    const long long parsed = std::atoll(v);
    if (parsed > 0) mb = static_cast<size_t>(parsed);
  }
  // Ordinary segments (up to kLargeSegment, or rounded to kLargeRounding) must not exceed it.
  return std::max(round_up(mb * kMiB, kLargeRounding), kLargeSegment);
}

// Everything for one device, guarded by one mutex.
struct DeviceCache {
  explicit DeviceCache(int dev) : device(dev), small(true, nullptr), large(false, nullptr) {}

  int device;
  std::mutex mu;
  BlockPool small, large;
  std::unordered_map<const void*, Block*> active;  // handed-out blocks by address
  std::vector<std::pair<cudaEvent_t, Block*>> pending;  // freed blocks waiting on other streams
  std::vector<Block*> deferred;  // freed with stream uses during capture: events recorded later
  std::vector<cudaEvent_t> spare_events;
  std::map<PoolId, std::unique_ptr<PrivatePool>> private_pools;
  AllocatorStats stats;
};

}  // namespace

struct CachingAllocator::Impl {
  std::once_flag init_once;
  std::vector<std::unique_ptr<DeviceCache>> devices;
  PoolId next_pool_id = 1;
  std::mutex pool_id_mu;
  size_t max_split = 0;

  DeviceCache& cache(int device, const char* op) {
    std::call_once(init_once, [&] {
      for (int d = 0; d < device_count(); ++d) devices.push_back(std::make_unique<DeviceCache>(d));
    });
    CORTEX_CHECK(device >= 0 && device < static_cast<int>(devices.size()), op, "device cuda:", device,
                 " does not exist (", devices.size(), " CUDA device(s) visible)");
    return *devices[device];
  }

  // ---- free blocks -------------------------------------------------------

  BlockPool& pool_for(DeviceCache& dc, size_t size) {
    const PoolId id = active_private_pool(dc.device);
    if (id != 0) {
      auto it = dc.private_pools.find(id);
      CORTEX_CHECK(it != dc.private_pools.end(), "cuda allocator", "private pool ", id, " was released");
      return is_small(size) ? it->second->small : it->second->large;
    }
    return is_small(size) ? dc.small : dc.large;
  }

  Block* take_free_block(BlockPool& pool, cudaStream_t stream, size_t size) {
    Block key;
    key.stream = stream;
    key.size = size;
    auto it = pool.blocks.lower_bound(&key);
    if (it == pool.blocks.end() || (*it)->stream != stream || !can_serve((*it)->size, size, max_split)) return nullptr;
    Block* b = *it;
    pool.blocks.erase(it);
    return b;
  }

  // Absorbs a free neighbour into b (b is not in the pool's set while this runs).
  static void merge(Block* b, Block* other) {
    if (!other || other->allocated) return;
    other->pool->blocks.erase(other);
    if (other == b->prev) {
      b->ptr = other->ptr;
      b->prev = other->prev;
      if (b->prev) b->prev->next = b;
    } else {
      b->next = other->next;
      if (b->next) b->next->prev = b;
    }
    b->size += other->size;
    delete other;
  }

  void return_block(DeviceCache& dc, Block* b) {
    b->allocated = false;
    merge(b, b->prev);
    merge(b, b->next);
    b->pool->blocks.insert(b);
    PrivatePool* owner = b->pool->owner;
    if (owner && owner->owners == 0 && !b->prev && !b->next && active_private_pool(dc.device) == 0) {
      release_segment(dc, b);
      if (--owner->segments == 0) erase_private_pool(dc, owner);
    }
  }

  void release_segment(DeviceCache& dc, Block* b) {
    b->pool->blocks.erase(b);
    DeviceGuard guard(dc.device);
    CORTEX_CUDA_CHECK(cudaFree(b->ptr));
    dc.stats.reserved_bytes -= b->size;
    ++dc.stats.cuda_free_count;
    delete b;
  }

  static void erase_private_pool(DeviceCache& dc, PrivatePool* pool) {
    for (auto it = dc.private_pools.begin(); it != dc.private_pools.end(); ++it) {
      if (it->second.get() == pool) {
        dc.private_pools.erase(it);
        return;
      }
    }
  }

  // Returns the wholly free segments of a pool to CUDA.
  void release_free_segments(DeviceCache& dc, BlockPool& pool) {
    std::vector<Block*> whole;
    for (Block* b : pool.blocks)
      if (!b->prev && !b->next) whole.push_back(b);
    for (Block* b : whole) {
      if (pool.owner) --pool.owner->segments;
      release_segment(dc, b);
    }
  }

  void release_cache(DeviceCache& dc) {
    release_free_segments(dc, dc.small);
    release_free_segments(dc, dc.large);
    std::vector<PrivatePool*> empty;
    for (auto& [id, pp] : dc.private_pools) {
      if (pp->owners > 0) continue;
      release_free_segments(dc, pp->small);
      release_free_segments(dc, pp->large);
      if (pp->segments == 0) empty.push_back(pp.get());
    }
    for (PrivatePool* pp : empty) erase_private_pool(dc, pp);
  }

  // ---- cross-stream frees --------------------------------------------------

  cudaEvent_t take_event(DeviceCache& dc) {
    if (!dc.spare_events.empty()) {
      cudaEvent_t e = dc.spare_events.back();
      dc.spare_events.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    CORTEX_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
    return e;
  }

  void record_uses(DeviceCache& dc, Block* b) {
    DeviceGuard guard(dc.device);
    for (cudaStream_t s : b->stream_uses) {
      cudaEvent_t e = take_event(dc);
      CORTEX_CUDA_CHECK(cudaEventRecord(e, s));
      dc.pending.emplace_back(e, b);
      ++b->pending_events;
    }
    b->stream_uses.clear();
  }

  void finish_event(DeviceCache& dc, cudaEvent_t e, Block* b) {
    dc.spare_events.push_back(e);
    if (--b->pending_events == 0) return_block(dc, b);
  }

  // Frees blocks whose events have completed (wait=true: waits for all of them).
  void process_events(DeviceCache& dc, bool wait) {
    for (Block* b : dc.deferred) record_uses(dc, b);
    dc.deferred.clear();
    std::vector<std::pair<cudaEvent_t, Block*>> still;
    std::vector<std::pair<cudaEvent_t, Block*>> pending;
    pending.swap(dc.pending);
    for (auto& [e, b] : pending) {
      const cudaError_t err = wait ? cudaEventSynchronize(e) : cudaEventQuery(e);
      if (err == cudaErrorNotReady) {
        cudaGetLastError();
        still.emplace_back(e, b);
        continue;
      }
      if (err != cudaSuccess) {
        dc.pending.insert(dc.pending.end(), still.begin(), still.end());
        throw_cuda_error(err, "cudaEventQuery (caching allocator)", __FILE__, __LINE__);
      }
      finish_event(dc, e, b);
    }
    dc.pending.insert(dc.pending.end(), still.begin(), still.end());
  }

  // ---- allocation ------------------------------------------------------------

  Block* new_segment(DeviceCache& dc, BlockPool& pool, cudaStream_t stream, size_t size, size_t requested) {
    const size_t bytes = segment_size(size);
    const bool capturing = active_private_pool(dc.device) != 0;
    DeviceGuard guard(dc.device);
    void* p = nullptr;
    cudaError_t err = malloc_capture_safe(&p, bytes);
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      ++dc.stats.alloc_retries;
      if (!capturing) {  // cudaFree would break a capture in progress
        process_events(dc, true);
        release_cache(dc);
        err = malloc_capture_safe(&p, bytes);
      }
    }
    if (err == cudaErrorMemoryAllocation) {
      cudaGetLastError();
      ++dc.stats.oom_count;
      size_t free_bytes = 0, total_bytes = 0;
      const bool have_info = cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess;
      cudaGetLastError();
      CORTEX_FAIL("cuda allocator", "out of memory on cuda:", dc.device, ": requested ", format_bytes(requested), " (",
                  requested, " bytes, segment ", format_bytes(bytes), "); ", format_bytes(dc.stats.allocated_bytes),
                  " allocated by tensors, ", format_bytes(dc.stats.reserved_bytes), " reserved by the cache",
                  have_info ? detail::concat("; the device has ", format_bytes(free_bytes), " free of ",
                                             format_bytes(total_bytes))
                            : std::string());
    }
    if (err != cudaSuccess) throw_cuda_error(err, "cudaMalloc (caching allocator)", __FILE__, __LINE__);
    ++dc.stats.cuda_malloc_count;
    dc.stats.reserved_bytes += bytes;
    dc.stats.peak_reserved_bytes = std::max(dc.stats.peak_reserved_bytes, dc.stats.reserved_bytes);
    if (pool.owner) ++pool.owner->segments;
    Block* b = new Block;
    b->device = dc.device;
    b->stream = stream;
    b->size = bytes;
    b->ptr = static_cast<char*>(p);
    b->pool = &pool;
    return b;
  }

  void* allocate(DeviceCache& dc, size_t nbytes, cudaStream_t stream) {
    const size_t size = round_size(nbytes);
    std::lock_guard<std::mutex> lock(dc.mu);
    if (active_private_pool(dc.device) == 0) process_events(dc, false);
    BlockPool& pool = pool_for(dc, size);
    Block* b = take_free_block(pool, stream, size);
    if (!b) b = new_segment(dc, pool, stream, size, nbytes);
    if (should_split(b->size, size, pool.small, max_split)) {
      Block* rest = new Block;
      rest->device = dc.device;
      rest->stream = stream;
      rest->size = b->size - size;
      rest->ptr = b->ptr + size;
      rest->pool = &pool;
      rest->prev = b;
      rest->next = b->next;
      if (rest->next) rest->next->prev = rest;
      b->next = rest;
      b->size = size;
      pool.blocks.insert(rest);
    }
    b->allocated = true;
    b->requested = nbytes;
    dc.active[b->ptr] = b;
    AllocatorStats& s = dc.stats;
    s.allocated_bytes += b->size;
    s.requested_bytes += nbytes;
    ++s.active_blocks;
    s.peak_allocated_bytes = std::max(s.peak_allocated_bytes, s.allocated_bytes);
    return b->ptr;
  }

  // Runs from DataPtr deleters, so it reports instead of throwing.
  void free(DeviceCache& dc, void* ptr) noexcept {
    try {
      std::lock_guard<std::mutex> lock(dc.mu);
      auto it = dc.active.find(ptr);
      if (it == dc.active.end()) {
        std::fprintf(stderr, "cortex cuda allocator: free of unknown pointer %p on cuda:%d\n", ptr, dc.device);
        return;
      }
      Block* b = it->second;
      dc.active.erase(it);
      dc.stats.allocated_bytes -= b->size;
      dc.stats.requested_bytes -= b->requested;
      --dc.stats.active_blocks;
      if (b->stream_uses.empty()) {
        return_block(dc, b);
      } else if (active_private_pool(dc.device) != 0) {
        dc.deferred.push_back(b);  // no events may be recorded or queried mid-capture
      } else {
        record_uses(dc, b);
      }
    } catch (const std::exception& e) {
      std::fprintf(stderr, "cortex cuda allocator: error while freeing %p: %s\n", ptr, e.what());
    }
  }
};

CachingAllocator::CachingAllocator() : impl_(new Impl), max_split_(max_split_from_env()) {
  impl_->max_split = max_split_;
}

CachingAllocator& CachingAllocator::instance() {
  // Never destroyed: tensors freed during static teardown still find it.
  static CachingAllocator* allocator = new CachingAllocator();
  return *allocator;
}

DataPtr CachingAllocator::allocate(size_t nbytes, Device device) {
  CORTEX_CHECK(device.is_cuda(), "cuda allocator", "asked for memory on ", device.str());
  if (nbytes == 0) return DataPtr(nullptr, [](void*) {});
  CORTEX_CHECK(nbytes <= kMaxRequest, "cuda allocator", "request of ", nbytes, " bytes on ", device.str(),
               " exceeds the largest supported allocation (", kMaxRequest, " bytes)");
  DeviceCache& dc = impl_->cache(device.index, "cuda allocator");
  void* p = impl_->allocate(dc, nbytes, current_stream(device.index));
  Impl* impl = impl_;
  DeviceCache* dcp = &dc;
  return DataPtr(p, [impl, dcp](void* q) { impl->free(*dcp, q); });
}

void CachingAllocator::record_stream(int device, const void* ptr, cudaStream_t stream) {
  DeviceCache& dc = impl_->cache(device, "record_stream");
  std::lock_guard<std::mutex> lock(dc.mu);
  auto it = dc.active.find(ptr);
  CORTEX_CHECK(it != dc.active.end(), "record_stream", "pointer ", ptr, " on cuda:", device,
               " is not the start of a live block of the caching allocator");
  Block* b = it->second;
  if (stream == b->stream) return;
  if (std::find(b->stream_uses.begin(), b->stream_uses.end(), stream) == b->stream_uses.end())
    b->stream_uses.push_back(stream);
}

AllocatorStats CachingAllocator::stats(int device) {
  DeviceCache& dc = impl_->cache(device, "allocator_stats");
  std::lock_guard<std::mutex> lock(dc.mu);
  AllocatorStats s = dc.stats;
  auto scan = [&](const BlockPool& pool) {
    for (const Block* b : pool.blocks) {
      s.cached_free_bytes += b->size;
      s.largest_free_block = std::max(s.largest_free_block, b->size);
    }
  };
  scan(dc.small);
  scan(dc.large);
  for (const auto& [id, pp] : dc.private_pools) {
    scan(pp->small);
    scan(pp->large);
  }
  s.fragmentation = s.cached_free_bytes == 0
                        ? 0.0
                        : 1.0 - static_cast<double>(s.largest_free_block) / static_cast<double>(s.cached_free_bytes);
  return s;
}

void CachingAllocator::reset_peak_stats(int device) {
  DeviceCache& dc = impl_->cache(device, "reset_peak_stats");
  std::lock_guard<std::mutex> lock(dc.mu);
  dc.stats.peak_allocated_bytes = dc.stats.allocated_bytes;
  dc.stats.peak_reserved_bytes = dc.stats.reserved_bytes;
}

void CachingAllocator::empty_cache() {
  for (int d = 0; d < device_count(); ++d) {
    DeviceCache& dc = impl_->cache(d, "empty_cache");
    CORTEX_CHECK(active_private_pool(d) == 0, "empty_cache", "cannot release memory while this thread captures a graph");
    std::lock_guard<std::mutex> lock(dc.mu);
    impl_->process_events(dc, true);
    impl_->release_cache(dc);
  }
}

PoolId CachingAllocator::create_private_pool(int device) {
  DeviceCache& dc = impl_->cache(device, "create_private_pool");
  PoolId id;
  {
    std::lock_guard<std::mutex> lock(impl_->pool_id_mu);
    id = impl_->next_pool_id++;
  }
  std::lock_guard<std::mutex> lock(dc.mu);
  dc.private_pools.emplace(id, std::make_unique<PrivatePool>());
  return id;
}

void CachingAllocator::begin_allocate_to_pool(int device, PoolId pool) {
  DeviceCache& dc = impl_->cache(device, "begin_allocate_to_pool");
  {
    std::lock_guard<std::mutex> lock(dc.mu);
    CORTEX_CHECK(dc.private_pools.count(pool) == 1, "begin_allocate_to_pool", "no private pool ", pool, " on cuda:",
                 device);
  }
  CORTEX_CHECK(active_private_pool(device) == 0, "begin_allocate_to_pool", "this thread already allocates to pool ",
               active_private_pool(device), " on cuda:", device);
  if (t_private_pool.size() <= static_cast<size_t>(device)) t_private_pool.resize(device + 1, 0);
  t_private_pool[device] = pool;
}

void CachingAllocator::end_allocate_to_pool(int device) {
  if (static_cast<size_t>(device) < t_private_pool.size()) t_private_pool[device] = 0;
}

void CachingAllocator::release_private_pool(int device, PoolId pool) {
  DeviceCache& dc = impl_->cache(device, "release_private_pool");
  std::lock_guard<std::mutex> lock(dc.mu);
  auto it = dc.private_pools.find(pool);
  CORTEX_CHECK(it != dc.private_pools.end(), "release_private_pool", "no private pool ", pool, " on cuda:", device);
  PrivatePool* pp = it->second.get();
  if (--pp->owners > 0) return;
  impl_->release_free_segments(dc, pp->small);
  impl_->release_free_segments(dc, pp->large);
  if (pp->segments == 0) dc.private_pools.erase(it);
}

void record_stream(const Tensor& t, cudaStream_t stream) {
  CORTEX_CHECK(t.defined() && t.device().is_cuda(), "record_stream", "expects a CUDA tensor, got ",
               t.defined() ? t.describe() : "undefined");
  if (t.storage()->nbytes() == 0) return;
  CachingAllocator::instance().record_stream(t.device().index, t.storage()->data(), stream);
}

AllocatorStats allocator_stats(int device) { return CachingAllocator::instance().stats(device); }
void empty_cache() { CachingAllocator::instance().empty_cache(); }

namespace {
// Installed at load; nothing here touches CUDA until the first allocation.
const bool g_installed = (set_allocator(DeviceType::CUDA, &CachingAllocator::instance()), true);
}  // namespace

}  // namespace cortex::cuda
