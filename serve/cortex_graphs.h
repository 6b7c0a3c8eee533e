#pragma once
// CUDA graphs for CortexDecoder: one captured nn::StaticCortexForward per (event source,
// batch bucket, event bucket) (serve/graph_buckets.h), captured on first use or by warm_up
// and replayed for every batch that fits it. A decode packs its windows into the bucket's
// pinned staging buffers, copies their used prefixes into the bucket's static device inputs
// on the compute stream (asynchronously: pinned memory), replays the graph, copies
// [B, outputs] back into pinned memory and waits once.
//
// A bucket whose capture fails is logged and left to the eager path from then on.
#ifdef CORTEX_WITH_CUDA
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "nn/cortex/static_forward.h"
#include "serve/graph_buckets.h"

namespace cortex::serve {

class CortexGraphs {
 public:
  // The model must live on a CUDA device, stay alive and be in eval mode.
  CortexGraphs(const nn::Cortex& model, int64_t max_batch);
  ~CortexGraphs();
  CortexGraphs(const CortexGraphs&) = delete;
  CortexGraphs& operator=(const CortexGraphs&) = delete;

  // Whether a batch of this shape has a bucket (else the caller runs it eagerly).
  bool fits(nn::EventSource source, int64_t windows, int64_t events) const;
  // Model outputs of each window, row-major [windows, outputs] in f32; none when the bucket's
  // graph could not be captured (the caller then runs the batch eagerly). Bad windows throw
  // as the eager path would.
  std::optional<std::vector<float>> decode_tokens(const std::vector<nn::TokenWindow>& windows);
  std::optional<std::vector<float>> decode_cached(const std::vector<nn::CachedWindowShape>& windows,
                                                  const std::vector<Tensor>& rows);
  // Captures both sources' graphs of every batch bucket B and every event bucket up to
  // B * events_per_window events.
  void warm_up(int64_t events_per_window);
  int64_t captures() const;

 private:
  struct Bucket;
  using Key = std::tuple<nn::EventSource, int64_t, int64_t>;  // source, batch bucket, event bucket
  Key key_of(nn::EventSource source, int64_t windows, int64_t events) const;
  // The bucket's captured graph (capturing it now if new); null if its capture failed.
  Bucket* bucket(const Key& key);
  std::vector<float> replay(Bucket& b, int64_t windows, int64_t events);

  nn::StaticCortexForward forward_;
  GraphBuckets shapes_;
  int64_t outputs_;
  mutable std::mutex mu_;
  std::map<Key, std::unique_ptr<Bucket>> buckets_;
  std::set<Key> failed_;
};

}  // namespace cortex::serve
#endif  // CORTEX_WITH_CUDA
