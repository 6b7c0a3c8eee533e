#include "serve/metrics.h"

#include <prometheus/text_serializer.h>

namespace cortex::serve {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

const prometheus::Histogram::BucketBoundaries& Metrics::latency_buckets() {
  static const prometheus::Histogram::BucketBoundaries buckets = {0.001, 0.0025, 0.005, 0.0075, 0.01, 0.02, 0.03,
                                                                  0.05,  0.075,  0.1,   0.25,   0.5,  1.0,  2.5};
  return buckets;
}

Metrics::Metrics() : registry_(std::make_shared<prometheus::Registry>()) {
  auto& r = *registry_;
  requests_ = &BuildCounter().Name("cortex_requests_total").Help("Requests answered, by endpoint and HTTP status").Register(r);
  rejections_ = &BuildCounter().Name("cortex_rejections_total").Help("Requests refused, by reason").Register(r);
  admitted_ = &BuildCounter()
                   .Name("cortex_admitted_total")
                   .Help("Requests admitted to the queue, by endpoint (each is answered exactly once)")
                   .Register(r);
  latency_ = &BuildHistogram()
                  .Name("cortex_request_latency_seconds")
                  .Help("End-to-end latency of decode requests and stream strides, from admission to reply")
                  .Register(r);
  queue_wait_ = &BuildHistogram()
                     .Name("cortex_queue_wait_seconds")
                     .Help("Time admitted requests wait in the deadline queue")
                     .Register(r)
                     .Add({}, latency_buckets());
  compute_ = &BuildHistogram()
                  .Name("cortex_compute_seconds")
                  .Help("Model time of one batch")
                  .Register(r)
                  .Add({}, latency_buckets());
  batch_size_ = &BuildHistogram()
                     .Name("cortex_batch_size")
                     .Help("Requests per executed batch")
                     .Register(r)
                     .Add({}, prometheus::Histogram::BucketBoundaries{1, 2, 4, 8, 16, 32, 64, 128, 256});
  deadline_misses_ = &BuildCounter()
                          .Name("cortex_deadline_misses_total")
                          .Help("Requests past their deadline: expired in the queue, or answered late")
                          .Register(r);
  queue_depth_ = &BuildGauge().Name("cortex_queue_depth").Help("Requests waiting in the queue").Register(r).Add({});
  ready_ = &BuildGauge().Name("cortex_ready").Help("1 when /ready answers 200").Register(r).Add({});
  // The endpoints' series and every rejection reason exist from the start, so dashboards show
  // zeros rather than gaps.
  for (const char* endpoint : {"decode", "stream"}) latency_->Add({{"endpoint", endpoint}}, latency_buckets());
  for (int r = static_cast<int>(Rejection::none) + 1; r <= static_cast<int>(Rejection::internal); ++r)
    rejections_->Add({{"reason", rejection_name(static_cast<Rejection>(r))}});
  auto& cache_pages = BuildGauge().Name("cortex_cache_pages").Help("Streaming cache pages").Register(r);
  cache_pages_in_use_ = &cache_pages.Add({{"state", "in_use"}});
  cache_pages_total_ = &cache_pages.Add({{"state", "total"}});
  cache_streams_ = &BuildGauge().Name("cortex_cache_streams").Help("Streams with resident pages").Register(r).Add({});
  cache_hit_rate_ = &BuildGauge()
                         .Name("cortex_cache_hit_rate")
                         .Help("Fraction of window events served from cached encodings, since start")
                         .Register(r)
                         .Add({});
  auto& cache_events = BuildCounter().Name("cortex_cache_events_total").Help("Window events by cache outcome").Register(r);
  cache_hits_ = &cache_events.Add({{"outcome", "hit"}});
  cache_misses_ = &cache_events.Add({{"outcome", "miss"}});
  evictions_ = &BuildCounter().Name("cortex_cache_evictions_total").Help("Idle streams evicted under memory pressure").Register(r).Add({});
  device_memory_ = &BuildGauge().Name("cortex_device_memory_bytes").Help("Memory held on the model's device").Register(r);
  connections_ = &BuildGauge().Name("cortex_open_connections").Help("Open client connections").Register(r);
}

void Metrics::count_request(const std::string& endpoint, int status) {
  requests_->Add({{"endpoint", endpoint}, {"status", std::to_string(status)}}).Increment();
}

void Metrics::count_admitted(const std::string& endpoint) { admitted_->Add({{"endpoint", endpoint}}).Increment(); }

void Metrics::count_rejection(Rejection reason) { rejections_->Add({{"reason", rejection_name(reason)}}).Increment(); }

void Metrics::observe_latency(const std::string& endpoint, double total_s) {
  latency_->Add({{"endpoint", endpoint}}, latency_buckets()).Observe(total_s);
}

void Metrics::count_deadline_miss(const std::string& stage) { deadline_misses_->Add({{"stage", stage}}).Increment(); }

void Metrics::set_cache(int64_t pages_in_use, int64_t pages_total, int64_t streams, uint64_t hits, uint64_t misses) {
  cache_pages_in_use_->Set(static_cast<double>(pages_in_use));
  cache_pages_total_->Set(static_cast<double>(pages_total));
  cache_streams_->Set(static_cast<double>(streams));
  const uint64_t all = hits + misses;
  cache_hit_rate_->Set(all ? static_cast<double>(hits) / static_cast<double>(all) : 0.0);
}

void Metrics::count_cache(uint64_t hits, uint64_t misses) {
  cache_hits_->Increment(static_cast<double>(hits));
  cache_misses_->Increment(static_cast<double>(misses));
}

void Metrics::set_device_memory(const std::string& kind, double bytes) { device_memory_->Add({{"kind", kind}}).Set(bytes); }

void Metrics::set_connections(const std::string& kind, double open) { connections_->Add({{"kind", kind}}).Set(open); }

std::string Metrics::render() const {
  prometheus::TextSerializer serializer;
  return serializer.Serialize(registry_->Collect());
}

}  // namespace cortex::serve
