#pragma once
// The server's Prometheus metrics, kept in one prometheus-cpp registry and rendered by our own
// /metrics handler (no civetweb exposer).
#include <memory>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "serve/window.h"

namespace cortex::serve {

class Metrics {
 public:
  Metrics();

  // Latency bucket edges in seconds; 5, 10, 30 and 50 ms are among them.
  static const prometheus::Histogram::BucketBoundaries& latency_buckets();

  void count_request(const std::string& endpoint, int status);
  void count_admitted(const std::string& endpoint);
  void count_rejection(Rejection reason);
  void observe_latency(const std::string& endpoint, double total_s);
  void observe_queue_wait(double seconds) { queue_wait_->Observe(seconds); }
  void observe_compute(double seconds) { compute_->Observe(seconds); }
  void observe_batch(int size) { batch_size_->Observe(size); }
  void count_deadline_miss(const std::string& stage);

  void set_queue_depth(size_t depth) { queue_depth_->Set(static_cast<double>(depth)); }
  void set_ready(bool ready) { ready_->Set(ready ? 1.0 : 0.0); }
  void set_cache(int64_t pages_in_use, int64_t pages_total, int64_t streams, uint64_t hits, uint64_t misses);
  void count_cache(uint64_t hits, uint64_t misses);
  void count_eviction() { evictions_->Increment(); }
  void set_device_memory(const std::string& kind, double bytes);
  void set_connections(const std::string& kind, double open);

  // Prometheus text exposition format of everything registered.
  std::string render() const;
  prometheus::Registry& registry() { return *registry_; }

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Counter>* rejections_;
  prometheus::Family<prometheus::Counter>* admitted_;
  prometheus::Family<prometheus::Histogram>* latency_;
  prometheus::Family<prometheus::Counter>* deadline_misses_;
  prometheus::Family<prometheus::Gauge>* device_memory_;
  prometheus::Family<prometheus::Gauge>* connections_;
  prometheus::Histogram* queue_wait_;
  prometheus::Histogram* compute_;
  prometheus::Histogram* batch_size_;
  prometheus::Gauge* queue_depth_;
  prometheus::Gauge* ready_;
  prometheus::Gauge* cache_pages_in_use_;
  prometheus::Gauge* cache_pages_total_;
  prometheus::Gauge* cache_streams_;
  prometheus::Gauge* cache_hit_rate_;
  prometheus::Counter* cache_hits_;
  prometheus::Counter* cache_misses_;
  prometheus::Counter* evictions_;
};

}  // namespace cortex::serve
