#pragma once
// The earliest-deadline-first scheduler: admission control in front of a bounded EdfQueue and
// one or more worker threads. Each worker forms a batch from the shared queue (batch_policy.h)
// under the one mutex, drops jobs whose deadline passed before they ran (no model time spent
// on them) and hands the batch to `run`; with several workers batches run concurrently (host
// packing, the GPU and the replies of different batches overlap), so `run` must be thread-safe.
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "serve/batch_policy.h"
#include "serve/edf_queue.h"

namespace cortex::serve {

class Metrics;

class Scheduler {
 public:
  // Executes one batch and answers every job in it (device-agnostic: the decoder decides where).
  using RunBatch = std::function<void(std::vector<std::unique_ptr<Job>>& batch)>;

  // `workers` threads run batches (>= 1; 1 runs one batch at a time), pinned to `worker_cpus`
  // where that is not empty (thread_setup.h).
  Scheduler(const BatchPolicy& policy, size_t capacity, RunBatch run, Metrics* metrics = nullptr, int workers = 1,
            std::vector<int> worker_cpus = {});
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  void start();
  // Admits the job (taking it) or refuses it with queue_full / draining, leaving it with the
  // caller and its callback uncalled.
  RequestError submit(std::unique_ptr<Job>& job);
  // Later submissions are refused with `draining`; admitted jobs still run.
  void stop_admitting();
  // Blocks until every admitted job has been answered, then stops the worker threads.
  void drain();

  size_t depth() const;
  size_t outstanding() const;  // queued plus running (on all workers)
  int workers() const { return workers_; }
  ComputeEstimator estimator() const;
  // Teaches the estimator a measured batch time (the warm-up runs batches outside the queue).
  void observe_compute(int batch, double seconds);
  double retry_after_s() const;  // a hint for refused clients: the estimated time to clear the queue

 private:
  void worker_loop();
  void answer_expired(std::vector<std::unique_ptr<Job>>& expired);

  BatchPolicy policy_;
  RunBatch run_;
  Metrics* metrics_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  EdfQueue queue_;
  ComputeEstimator estimator_;
  ArrivalEstimator arrivals_;
  int workers_;
  std::vector<int> worker_cpus_;
  size_t running_ = 0;  // jobs taken from the queue and not yet answered, all workers together
  bool admitting_ = true;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace cortex::serve
