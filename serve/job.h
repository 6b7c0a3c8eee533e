#pragma once
// One admitted unit of work: a window to decode or a stream's stride, with its deadline and
// the callback that answers the client.
#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "serve/request_codec.h"
#include "serve/window.h"

namespace cortex::serve {

using Clock = std::chrono::steady_clock;

struct JobResult {
  RequestError error;
  std::vector<float> velocity;
  Timings timings;
  int batch_size = 0;
  nlohmann::json extra = nlohmann::json::object();  // stream strides: cache hits and misses
};

struct Job {
  enum class Kind { window, stride };
  Kind kind = Kind::window;
  Window window;         // the window, or the stride's new events
  uint64_t stream = 0;   // strides only
  Clock::time_point arrival{};
  Clock::time_point deadline{};
  uint64_t sequence = 0;  // admission order; breaks deadline ties
  // Called exactly once, on the worker thread (or the admitting thread for refusals).
  std::function<void(JobResult&&)> done;
};

}  // namespace cortex::serve
