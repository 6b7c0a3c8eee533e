#pragma once
// Paged cache of per-event encoder rows for streams. Each stream keeps the raw events of its
// current window (cheap, on the host) and, while resident, their encoded rows in pool pages
// in time order. A stride encodes only its new events; pages whose events left the window go
// back to the pool; when the pool runs dry, idle streams lose their pages least-recently-used
// first and are re-encoded from their raw events on their next stride (counted as misses).
#include <cstdint>
#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "serve/decoder.h"
#include "serve/page_pool.h"

namespace cortex::serve {

struct StrideInput {
  uint64_t stream = 0;
  const Window* events = nullptr;  // the stride's new events (absolute times); end_ms = stride end
};

struct StrideOutcome {
  RequestError error;
  CachedWindow window;  // the full window ending at the stride's end
  uint64_t hits = 0;    // window events whose rows came from the cache
  uint64_t misses = 0;  // window events encoded in this stride
};

class StreamCache {
 public:
  StreamCache(Decoder& decoder, int64_t pages, int64_t page_size, int64_t max_streams);

  // A new stream's id, or 0 with `err` set when max_streams are open.
  uint64_t open(RequestError& err);
  // Frees the stream's pages (after its stride in flight, if any).
  void close(uint64_t stream);

  // Appends each stride's events, slides the windows, encodes what is missing in one call of
  // the decoder and gathers each window's rows. Streams must be distinct within one call.
  std::vector<StrideOutcome> advance(const std::vector<StrideInput>& strides);

  struct Stats {
    int64_t pages_in_use = 0, pages_total = 0, streams = 0, resident_streams = 0, bytes = 0;
    uint64_t hits = 0, misses = 0, evictions = 0;
  };
  Stats stats() const;

 private:
  struct Stream {
    std::deque<int32_t> units;
    std::deque<double> times;
    std::deque<int32_t> counts;
    std::deque<int64_t> pages;
    int64_t head_slot = 0;  // slot of the first event's row in pages.front()
    bool resident = true;   // every event has its row in `pages`
    bool busy = false;
    bool closing = false;
    double end_ms = 0.0;
    uint64_t last_used = 0;
  };
  struct Plan {
    Stream* stream = nullptr;
    size_t outcome = 0;
    int64_t first = 0;  // first event index to encode
    int64_t count = 0;
  };

  void release_pages(Stream& s);
  bool evict_one_idle();
  bool reserve_rows(Stream& s);
  void copy_rows_in(const Stream& s, int64_t first, const Tensor& rows);
  Tensor gather(const Stream& s) const;

  Decoder& decoder_;
  double window_ms_;
  int64_t max_streams_;
  PagePool pool_;
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, Stream> streams_;
  uint64_t next_id_ = 1;
  uint64_t tick_ = 0;
  uint64_t hits_ = 0, misses_ = 0, evictions_ = 0;
};

}  // namespace cortex::serve
