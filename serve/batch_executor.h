#pragma once
// Runs one batch on the decoder: windows in one decode() call, stream strides through the
// streaming cache and one decode_cached() call; answers every job, errors included.
// Thread-safe: several scheduler workers run batches at once, each on its own CUDA stream
// (worker_stream.h). Window decodes run concurrently (the decoder serialises what it must);
// the strides' cache update and decode run one batch at a time, so the cache is mutated by
// one thread and its pages are never rewritten while another batch still reads them.
#include <memory>
#include <mutex>
#include <vector>

#include "serve/decoder.h"
#include "serve/job.h"
#include "serve/stream_cache.h"

namespace cortex::serve {

class Metrics;

class BatchExecutor {
 public:
  BatchExecutor(Decoder& decoder, StreamCache* cache, Metrics* metrics);
  void run(std::vector<std::unique_ptr<Job>>& batch);

 private:
  void publish_cache_stats();

  Decoder& decoder_;
  StreamCache* cache_;
  Metrics* metrics_;
  std::mutex stride_mu_;  // held across the cache's advance() and decode_cached()
};

}  // namespace cortex::serve
