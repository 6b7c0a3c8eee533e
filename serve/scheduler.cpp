#include "serve/scheduler.h"

#include <algorithm>

#include "engine/error.h"
#include "serve/log.h"
#include "serve/metrics.h"
#include "serve/thread_setup.h"

namespace cortex::serve {

Scheduler::Scheduler(const BatchPolicy& policy, size_t capacity, RunBatch run, Metrics* metrics, int workers,
                     std::vector<int> worker_cpus)
    : policy_(policy), run_(std::move(run)), metrics_(metrics), queue_(capacity), workers_(workers),
      worker_cpus_(std::move(worker_cpus)) {
  CORTEX_CHECK(workers >= 1, "Scheduler", "needs at least one worker, got ", workers);
}

Scheduler::~Scheduler() { drain(); }

void Scheduler::start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (!threads_.empty() || stop_) return;
  for (int i = 0; i < workers_; ++i)
    threads_.emplace_back([this, i] {
      name_this_thread("cortex-worker" + std::to_string(i));
      try {
        pin_this_thread(worker_cpus_);
      } catch (const std::exception& e) {  // the CPUs were checked at start-up; serve unpinned rather than not at all
        log(LogLevel::error, "worker_pinning_failed", {{"error", e.what()}});
      }
      worker_loop();
    });
}

RequestError Scheduler::submit(std::unique_ptr<Job>& job) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!admitting_) return {Rejection::draining, "the server is shutting down and admits no new requests"};
  arrivals_.arrived(Clock::now());
  if (!queue_.push(job))
    return {Rejection::queue_full, "the queue holds " + std::to_string(queue_.capacity()) +
                                       " requests, its limit; retry after the Retry-After delay"};
  if (metrics_) metrics_->set_queue_depth(queue_.size());
  // Several workers may wait in different places (idle, or holding a batch open): wake all
  // so the one holding a batch open sees it grow.
  if (workers_ > 1) wake_.notify_all();
  else wake_.notify_one();
  return {};
}

void Scheduler::stop_admitting() {
  std::lock_guard<std::mutex> lock(mu_);
  admitting_ = false;
}

void Scheduler::drain() {
  std::unique_lock<std::mutex> lock(mu_);
  admitting_ = false;
  if (!threads_.empty()) idle_.wait(lock, [&] { return queue_.empty() && running_ == 0; });
  stop_ = true;
  wake_.notify_all();
  std::vector<std::thread> threads = std::move(threads_);
  threads_.clear();
  lock.unlock();
  for (std::thread& t : threads) t.join();
  // Jobs admitted without a worker ever started are answered too: nothing admitted is lost.
  lock.lock();
  std::vector<std::unique_ptr<Job>> left;
  while (!queue_.empty()) left.push_back(queue_.pop());
  lock.unlock();
  for (auto& job : left) {
    JobResult r;
    r.error = {Rejection::draining, "the server stopped before this request ran"};
    job->done(std::move(r));
  }
}

size_t Scheduler::depth() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

size_t Scheduler::outstanding() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size() + running_;
}

ComputeEstimator Scheduler::estimator() const {
  std::lock_guard<std::mutex> lock(mu_);
  return estimator_;
}

void Scheduler::observe_compute(int batch, double seconds) {
  std::lock_guard<std::mutex> lock(mu_);
  estimator_.observe(batch, seconds);
}

double Scheduler::retry_after_s() const {
  std::lock_guard<std::mutex> lock(mu_);
  const int batch = std::max(policy_.max_batch, 1);
  // Each worker clears its share of the queue.
  const double batches = static_cast<double>(queue_.size() + batch - 1) / batch / workers_;
  return batches * std::chrono::duration<double>(estimator_.estimate(batch)).count();
}

void Scheduler::answer_expired(std::vector<std::unique_ptr<Job>>& expired) {
  const Clock::time_point now = Clock::now();
  for (auto& job : expired) {
    JobResult r;
    const double late_ms = std::chrono::duration<double, std::milli>(now - job->deadline).count();
    const double budget_ms = std::chrono::duration<double, std::milli>(job->deadline - job->arrival).count();
    r.error = {Rejection::deadline_expired, "the request's deadline of " + std::to_string(budget_ms) +
                                                " ms passed while it waited in the queue (" +
                                                std::to_string(late_ms) + " ms ago); it was not run"};
    r.timings.queue_ms = std::chrono::duration<double, std::milli>(now - job->arrival).count();
    if (metrics_) {
      metrics_->count_deadline_miss("expired_in_queue");
      metrics_->observe_queue_wait(r.timings.queue_ms / 1e3);
    }
    job->done(std::move(r));
  }
}

void Scheduler::worker_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    wake_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty()) {
      if (stop_) return;
      continue;
    }
    while (!queue_.empty()) {
      const Clock::time_point now = Clock::now();
      std::vector<std::unique_ptr<Job>> expired = queue_.pop_expired(now);
      if (!expired.empty()) {
        ++running_;  // keeps drain() waiting while the refusals go out
        lock.unlock();
        answer_expired(expired);
        lock.lock();
        --running_;
        continue;
      }
      // The batch counts as open since its oldest job arrived, not since this worker came
      // free: under load, jobs that queued during the previous batch have waited already, and
      // holding them for max_wait again would idle the device between batches.
      const Clock::time_point opened = std::min(now, queue_.oldest_arrival());
      const int next = static_cast<int>(std::min<size_t>(queue_.size() + 1, policy_.max_batch));
      const BatchDecision d = decide_batch(policy_, now, opened, queue_.earliest().deadline, queue_.size(),
                                           estimator_.estimate(next), arrivals_.next_expected());
      if (d.run_now) break;
      const size_t seen = queue_.size();
      wake_.wait_until(lock, d.wait_until, [&] { return queue_.size() != seen || stop_; });
    }
    if (queue_.empty()) {
      if (metrics_) metrics_->set_queue_depth(0);
      idle_.notify_all();
      continue;
    }
    std::vector<std::unique_ptr<Job>> batch;
    while (!queue_.empty() && batch.size() < static_cast<size_t>(policy_.max_batch)) batch.push_back(queue_.pop());
    running_ += batch.size();
    if (metrics_) metrics_->set_queue_depth(queue_.size());
    lock.unlock();
    const Clock::time_point start = Clock::now();
    try {
      run_(batch);
    } catch (const std::exception& e) {
      // run_ answers its jobs itself; this only guards the worker against a broken executor.
      log(LogLevel::error, "batch_failed", {{"error", e.what()}});
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    lock.lock();
    estimator_.observe(static_cast<int>(batch.size()), seconds);
    running_ -= batch.size();
    if (queue_.empty() && running_ == 0) idle_.notify_all();
  }
}

}  // namespace cortex::serve
