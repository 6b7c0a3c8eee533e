#pragma once
// What every connection shares: settings, the model's description, the scheduler, the
// streaming cache, metrics, the ready/draining flags and the list of open sessions (so a
// drain can reach the idle ones).
#include <atomic>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "serve/config.h"
#include "serve/decoder.h"
#include "serve/metrics.h"
#include "serve/scheduler.h"
#include "serve/stream_cache.h"

namespace cortex::serve {

// A connection the server can ask to wind down.
class Drainable {
 public:
  virtual ~Drainable() = default;
  // Called from any thread; the session finishes what it admitted, then closes.
  virtual void drain() = 0;
};

class SessionRegistry {
 public:
  uint64_t add(std::weak_ptr<Drainable> session);
  void remove(uint64_t id);
  size_t size() const;
  void drain_all();

 private:
  mutable std::mutex mu_;
  std::unordered_map<uint64_t, std::weak_ptr<Drainable>> sessions_;
  uint64_t next_ = 1;
};

struct ServerState {
  ServerConfig config;
  ModelInfo model;
  Metrics metrics;
  Scheduler* scheduler = nullptr;
  StreamCache* cache = nullptr;
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  SessionRegistry sessions;
  std::atomic<int64_t> http_connections{0};
  std::atomic<int64_t> stream_connections{0};

  // Every refusal is counted by reason (cortex_rejections_total).
  void count_rejection(Rejection r) { metrics.count_rejection(r); }
};

}  // namespace cortex::serve
