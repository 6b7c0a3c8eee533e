#pragma once
// CUDA graphs of engine work: capture a fixed-shape computation (a forward pass) once and
// replay it with a single launch. Tensors created while capturing come from a memory pool
// private to the graph, so replays keep writing the same addresses: read outputs from the
// tensors the captured function produced, and feed new inputs by copying into the tensors
// it read (copy_ into them on the device). Those inputs must stay alive while the graph does.
//
// Nothing captured may synchronise or touch the host (no item(), no host<->device copies),
// and random ops replay the same numbers each time.
#include <cuda_runtime.h>

#include <functional>
#include <optional>

#include "cuda/caching_allocator.h"
#include "cuda/stream.h"

namespace cortex::cuda {

class Graph {
 public:
  explicit Graph(int device = -1);  // -1: the current device
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  // Runs fn `warmup` times eagerly (creating lazily made handles and GEMM plans outside the
  // capture), then records one run of it. Work runs on the graph's own stream, ordered after
  // the caller's current stream; fn sees that stream as current.
  void capture(const std::function<void()>& fn, int warmup = 1);
  // Launches the recorded work on the current stream.
  void replay();

  bool captured() const { return exec_ != nullptr; }
  PoolId pool() const { return pool_; }
  size_t num_nodes() const;

 private:
  void release_pool() noexcept;
  int device_;
  Stream stream_;
  PoolId pool_ = 0;
  cudaGraph_t graph_ = nullptr;
  cudaGraphExec_t exec_ = nullptr;
  std::optional<Event> last_replay_;  // created on the graph's device at the first replay
};

}  // namespace cortex::cuda
