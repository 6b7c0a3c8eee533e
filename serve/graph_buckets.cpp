#include "serve/graph_buckets.h"

#include <algorithm>

#include "engine/error.h"

namespace cortex::serve {

GraphBuckets::GraphBuckets(int64_t max_batch) : max_batch_(max_batch) {
  CORTEX_CHECK(max_batch >= 1, "GraphBuckets", "the largest batch must be >= 1, got ", max_batch);
}

std::vector<int64_t> GraphBuckets::batch_buckets() const {
  std::vector<int64_t> out;
  for (int64_t b = 1; b < max_batch_; b *= 2) out.push_back(b);
  out.push_back(max_batch_);
  return out;
}

std::optional<int64_t> GraphBuckets::batch_bucket(int64_t windows) const {
  CORTEX_CHECK(windows >= 1, "GraphBuckets", "a batch has >= 1 window, got ", windows);
  if (windows > max_batch_) return std::nullopt;
  int64_t b = 1;
  while (b < windows) b *= 2;
  return std::min(b, max_batch_);
}

std::optional<int64_t> GraphBuckets::event_bucket(int64_t events) {
  CORTEX_CHECK(events >= 0, "GraphBuckets", "a batch has >= 0 events, got ", events);
  if (events > kMaxEvents) return std::nullopt;
  int64_t n = kMinEvents;
  while (n < events) n *= 2;
  return n;
}

}  // namespace cortex::serve
