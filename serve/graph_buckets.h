#pragma once
// The fixed shapes the server captures CUDA graphs for. A batch of W windows holding E
// events in all runs in the smallest bucket (B, N) with B >= W and N >= E: batch buckets are
// the powers of two below the largest batch, then the largest batch itself (so a full batch
// pads nothing); event buckets are powers of two from kMinEvents (small batches share one
// graph) up to kMaxEvents (a graph's memory grows with N; larger batches run eagerly).
#include <cstdint>
#include <optional>
#include <vector>

namespace cortex::serve {

class GraphBuckets {
 public:
  static constexpr int64_t kMinEvents = 1024;
  static constexpr int64_t kMaxEvents = int64_t{1} << 18;

  explicit GraphBuckets(int64_t max_batch);

  int64_t max_batch() const { return max_batch_; }
  // Every batch bucket, smallest first.
  std::vector<int64_t> batch_buckets() const;
  // The bucket of a batch of `windows` (>= 1) windows; none above max_batch.
  std::optional<int64_t> batch_bucket(int64_t windows) const;
  // The bucket of `events` (>= 0) events; none above kMaxEvents.
  static std::optional<int64_t> event_bucket(int64_t events);

 private:
  int64_t max_batch_;
};

}  // namespace cortex::serve
