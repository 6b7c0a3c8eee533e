#pragma once
// Runs one batch on the decoder: windows in one decode() call, stream strides through the
// streaming cache and one decode_cached() call; answers every job, errors included.
#include <memory>
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
};

}  // namespace cortex::serve
