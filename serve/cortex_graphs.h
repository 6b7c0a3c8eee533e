#pragma once
// CUDA graphs for CortexDecoder: one captured nn::StaticCortexForward per (event source,
// batch bucket, event bucket) (serve/graph_buckets.h), captured on first use or by warm_up
// and replayed for every batch that fits it. A decode packs its windows into the bucket's
// pinned staging buffers, copies their used prefixes into the bucket's static device inputs
// on the calling thread's current stream (asynchronously: pinned memory), replays the graph
// there, copies [B, outputs] back into pinned memory and waits for that stream only.
//
// Concurrent decodes (one per scheduler worker): each key has a small pool of instances
// (staging buffers, device inputs and graph). A decode takes a free instance for its whole
// upload-replay-download and gives it back; when all are busy it captures another, up to
// `instances` per key, and past that waits for one to come back. Captures are serialised
// by the mutex that guards the model's eager use (they run the forward eagerly once).
//
// A key whose first capture fails is logged and left to the eager path from then on.
#ifdef CORTEX_WITH_CUDA
#include <condition_variable>
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
  // The model must live on a CUDA device, stay alive and be in eval mode. `model_mu` is held
  // by every eager use of the model; captures hold it too.
  CortexGraphs(const nn::Cortex& model, int64_t max_batch, int64_t instances, std::mutex& model_mu);
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
  // B * events_per_window events, `instances` of each.
  void warm_up(int64_t events_per_window);
  // Instances captured so far, all keys together.
  int64_t captures() const;

 private:
  struct Bucket;
  class Lease;
  using Key = std::tuple<nn::EventSource, int64_t, int64_t>;  // source, batch bucket, event bucket
  struct Pool {
    std::vector<std::unique_ptr<Bucket>> all;
    std::vector<Bucket*> idle;
    int64_t capturing = 0;  // captures of this key in progress
    bool capped = false;    // a further capture failed: make do with `all`
  };
  Key key_of(nn::EventSource source, int64_t windows, int64_t events) const;
  // A free instance of the key's bucket, captured now if none is free and the pool may grow;
  // empty if the key cannot be captured.
  Lease acquire(const Key& key);
  void give_back(const Key& key, Bucket* b);
  // Captures one more instance of the key into its pool; false if that failed.
  bool grow(const Key& key, std::unique_lock<std::mutex>& lock);
  std::vector<float> replay(Bucket& b, int64_t windows, int64_t events);

  nn::StaticCortexForward forward_;
  GraphBuckets shapes_;
  int64_t outputs_;
  int64_t instances_;
  std::mutex& model_mu_;
  mutable std::mutex mu_;  // pools_ and failed_
  std::condition_variable returned_;
  std::map<Key, Pool> pools_;
  std::set<Key> failed_;
};

}  // namespace cortex::serve
#endif  // CORTEX_WITH_CUDA
