#include "cuda/graph.h"

#include "cuda/runtime.h"

namespace cortex::cuda {

Graph::Graph(int device) : device_(device < 0 ? current_device() : device), stream_(device_) {}

Graph::~Graph() {
  // Replays may still be running: their memory must not go back to CUDA under them.
  if (last_replay_) cudaEventSynchronize(last_replay_->get());
  if (exec_) cudaGraphExecDestroy(exec_);
  if (graph_) cudaGraphDestroy(graph_);
  release_pool();
}

void Graph::release_pool() noexcept {
  if (pool_ == 0) return;
  try {
    CachingAllocator::instance().release_private_pool(device_, pool_);
  } catch (...) {
    // Never throws out of a destructor; the pool then stays reserved.
  }
  pool_ = 0;
}

void Graph::capture(const std::function<void()>& fn, int warmup) {
  CORTEX_CHECK(exec_ == nullptr, "Graph::capture", "this graph has already been captured");
  DeviceGuard device_guard(device_);
  cudaStream_t caller = current_stream(device_);
  stream_wait_stream(stream_, caller);
  CachingAllocator& allocator = CachingAllocator::instance();
  {
    StreamGuard stream_guard(stream_);
    for (int i = 0; i < warmup; ++i) fn();
    if (warmup > 0) stream_.synchronize();
    pool_ = allocator.create_private_pool(device_);
    allocator.begin_allocate_to_pool(device_, pool_);
    // Thread-local mode: other threads may keep using CUDA freely while this one captures.
    CORTEX_CUDA_CHECK(cudaStreamBeginCapture(stream_, cudaStreamCaptureModeThreadLocal));
    try {
      fn();
    } catch (...) {
      cudaGraph_t broken = nullptr;
      cudaStreamEndCapture(stream_, &broken);
      cudaGetLastError();
      if (broken) cudaGraphDestroy(broken);
      allocator.end_allocate_to_pool(device_);
      release_pool();
      throw;
    }
    const cudaError_t err = cudaStreamEndCapture(stream_, &graph_);
    allocator.end_allocate_to_pool(device_);
    if (err != cudaSuccess) release_pool();
    if (err != cudaSuccess)
      throw_cuda_error(err, "cudaStreamEndCapture (was something synchronised or copied to the host while capturing?)",
                       __FILE__, __LINE__);
  }
  CORTEX_CUDA_CHECK(cudaGraphInstantiate(&exec_, graph_, 0));
  stream_wait_stream(caller, stream_);
}

void Graph::replay() {
  CORTEX_CHECK(exec_ != nullptr, "Graph::replay", "nothing captured yet");
  DeviceGuard device_guard(device_);
  cudaStream_t stream = current_stream(device_);
  CORTEX_CUDA_CHECK(cudaGraphLaunch(exec_, stream));
  if (!last_replay_) last_replay_.emplace();
  last_replay_->record(stream);
}

size_t Graph::num_nodes() const {
  if (!graph_) return 0;
  size_t n = 0;
  CORTEX_CUDA_CHECK(cudaGraphGetNodes(graph_, nullptr, &n));
  return n;
}

}  // namespace cortex::cuda
