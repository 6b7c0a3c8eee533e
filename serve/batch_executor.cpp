#include "serve/batch_executor.h"

#include "serve/log.h"
#include "serve/metrics.h"
#include "serve/worker_stream.h"

#ifdef CORTEX_WITH_CUDA
#include "cuda/caching_allocator.h"
#endif

namespace cortex::serve {

BatchExecutor::BatchExecutor(Decoder& decoder, StreamCache* cache, Metrics* metrics)
    : decoder_(decoder), cache_(cache), metrics_(metrics) {}

void BatchExecutor::publish_cache_stats() {
  if (!metrics_ || !cache_) return;
  const StreamCache::Stats st = cache_->stats();
  metrics_->set_cache(st.pages_in_use, st.pages_total, st.resident_streams, st.hits, st.misses);
  metrics_->set_device_memory("kv_cache", static_cast<double>(st.bytes));
}

void BatchExecutor::run(std::vector<std::unique_ptr<Job>>& batch) {
  try {
    use_worker_stream(decoder_.info().device);
  } catch (const std::exception& e) {
    // Without its stream the worker cannot run the batch; every job still gets an answer.
    log(LogLevel::error, "worker_stream_failed", {{"error", e.what()}, {"jobs", batch.size()}});
    for (auto& job : batch) {
      JobResult r;
      r.error = {Rejection::internal, std::string("the worker's device stream failed: ") + e.what()};
      r.batch_size = static_cast<int>(batch.size());
      job->done(std::move(r));
    }
    return;
  }
  const Clock::time_point start = Clock::now();
  std::vector<JobResult> results(batch.size());
  std::vector<size_t> window_jobs, stride_jobs;
  for (size_t i = 0; i < batch.size(); ++i)
    (batch[i]->kind == Job::Kind::window ? window_jobs : stride_jobs).push_back(i);

  auto fail = [&](const std::vector<size_t>& jobs, const std::exception& e) {
    log(LogLevel::error, "decode_failed", {{"error", e.what()}, {"jobs", jobs.size()}});
    for (size_t i : jobs) results[i].error = {Rejection::internal, std::string("the model failed: ") + e.what()};
  };

  if (!window_jobs.empty()) {
    try {
      std::vector<const Window*> windows;
      for (size_t i : window_jobs) windows.push_back(&batch[i]->window);
      std::vector<std::vector<float>> out = decoder_.decode(windows);
      for (size_t k = 0; k < window_jobs.size(); ++k) results[window_jobs[k]].velocity = std::move(out[k]);
    } catch (const std::exception& e) {
      fail(window_jobs, e);
    }
  }

  if (!stride_jobs.empty()) {
    // decode_cached returns only once its stream has finished, so the next holder may
    // evict or rewrite the pages this batch gathered from.
    std::lock_guard<std::mutex> lock(stride_mu_);
    try {
      if (!cache_) throw std::runtime_error("this server has no streaming cache");
      std::vector<StrideInput> inputs;
      for (size_t i : stride_jobs) inputs.push_back({batch[i]->stream, &batch[i]->window});
      std::vector<StrideOutcome> outcomes = cache_->advance(inputs);
      std::vector<const CachedWindow*> windows;
      std::vector<size_t> decoded;
      uint64_t hits = 0, misses = 0;
      for (size_t k = 0; k < stride_jobs.size(); ++k) {
        JobResult& r = results[stride_jobs[k]];
        r.error = outcomes[k].error;
        r.extra = {{"cache", {{"hits", outcomes[k].hits}, {"misses", outcomes[k].misses}}},
                   {"events_in_window", outcomes[k].window.times_ms.size()}};
        if (r.error) continue;
        hits += outcomes[k].hits;
        misses += outcomes[k].misses;
        windows.push_back(&outcomes[k].window);
        decoded.push_back(stride_jobs[k]);
      }
      if (metrics_) metrics_->count_cache(hits, misses);
      std::vector<std::vector<float>> out = decoder_.decode_cached(windows);
      for (size_t k = 0; k < decoded.size(); ++k) results[decoded[k]].velocity = std::move(out[k]);
    } catch (const std::exception& e) {
      // A failure may leave copies into or out of cache pages queued; they must land before
      // another batch reuses those pages.
      try {
        wait_worker_stream(decoder_.info().device);
      } catch (const std::exception&) {
      }
      fail(stride_jobs, e);
    }
    publish_cache_stats();
  }

  const Clock::time_point end = Clock::now();
  const double compute_ms = std::chrono::duration<double, std::milli>(end - start).count();
  if (metrics_) {
    metrics_->observe_batch(static_cast<int>(batch.size()));
    metrics_->observe_compute(compute_ms / 1e3);
#ifdef CORTEX_WITH_CUDA
    // What the caching allocator holds on the model's GPU (parameters, cache pool, activations).
    const Device device = decoder_.info().device;
    if (device.is_cuda()) {
      const cuda::AllocatorStats st = cuda::allocator_stats(device.index);
      metrics_->set_device_memory("allocated", static_cast<double>(st.allocated_bytes));
      metrics_->set_device_memory("reserved", static_cast<double>(st.reserved_bytes));
      metrics_->set_device_memory("peak_allocated", static_cast<double>(st.peak_allocated_bytes));
    }
#endif
  }
  for (size_t i = 0; i < batch.size(); ++i) {
    JobResult& r = results[i];
    r.batch_size = static_cast<int>(batch.size());
    r.timings.queue_ms = std::chrono::duration<double, std::milli>(start - batch[i]->arrival).count();
    r.timings.compute_ms = compute_ms;
    if (metrics_) {
      metrics_->observe_queue_wait(r.timings.queue_ms / 1e3);
      if (end > batch[i]->deadline) metrics_->count_deadline_miss("completed_late");
    }
    batch[i]->done(std::move(r));
  }
}

}  // namespace cortex::serve
