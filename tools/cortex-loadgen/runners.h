#pragma once
// The three ways of offering load: open-loop Poisson arrivals over HTTP (open_loop.cpp, on a
// few event-loop threads), closed-loop concurrency over HTTP and real-time WebSocket streams
// (one stride every stride_ms each; a thread per connection or stream, runners.cpp).
// Latency counts from when a request was due, so a client that falls behind shows it.
#include <optional>
#include <string>

#include "recorder.h"
#include "workload.h"

namespace loadgen {

struct RunOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string mode = "open";     // open | closed | stream
  double rate = 50.0;            // open: requests per second
  int concurrency = 4;           // closed: requests in flight
  int streams = 4;               // stream: concurrent streams
  int connections = 64;          // open: client connections
  int threads = 0;               // open: event-loop threads (0: min(4, cores / 4), at least 1)
  double duration_s = 10.0;
  double warmup_s = 1.0;
  double drain_s = 10.0;         // open: longest the client waits for backlog after the run
  bool binary = false;
  std::optional<double> deadline_ms;
  uint64_t seed = 1;
  WorkloadShape shape;
};

void run_open_loop(const RunOptions& o, Recorder& recorder, Clock::time_point start);
// The event-loop threads run_open_loop uses for `o`.
int open_loop_threads(const RunOptions& o);
void run_closed_loop(const RunOptions& o, Recorder& recorder, Clock::time_point start);
void run_streams(const RunOptions& o, Recorder& recorder, Clock::time_point start);

}  // namespace loadgen
