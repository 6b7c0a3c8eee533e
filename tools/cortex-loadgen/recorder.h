#pragma once
// Latencies and outcomes of a run, and the summary the load generator prints.
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace loadgen {

using Clock = std::chrono::steady_clock;

class Recorder {
 public:
  // Outcomes before `measure_from` (the warm-up) are not kept.
  explicit Recorder(Clock::time_point measure_from) : measure_from_(measure_from) {}
  // status: the HTTP status (or the stream error's status), 0 for a network failure.
  // `sent`: when the encoded request went to the socket; sent - scheduled is the client's own
  // lateness (a thread that woke late, the encoding), which the latency includes.
  void record(Clock::time_point scheduled, Clock::time_point done, int status);
  void record(Clock::time_point scheduled, Clock::time_point sent, Clock::time_point done, int status);
  void record_sent(Clock::time_point scheduled);

  struct Summary {
    double seconds = 0, offered_per_s = 0, throughput_per_s = 0, goodput_per_s = 0;
    double p50_ms = 0, p95_ms = 0, p99_ms = 0, p999_ms = 0, mean_ms = 0, max_ms = 0;
    // Of the answered requests: how late the client sent them (a client-side share of the latency).
    double send_lag_p50_ms = 0, send_lag_p99_ms = 0, send_lag_max_ms = 0;
    int64_t sent = 0, ok = 0;
    std::map<std::string, int64_t> errors;  // by status ("429", "504", "network")
  };
  Summary summarise(double seconds, double slo_ms) const;

 private:
  Clock::time_point measure_from_;
  mutable std::mutex mu_;
  std::vector<double> ok_ms_, send_lag_ms_;
  std::map<std::string, int64_t> errors_;
  int64_t sent_ = 0;
};

nlohmann::json to_json(const Recorder::Summary& s);
std::string to_text(const Recorder::Summary& s, double slo_ms);

}  // namespace loadgen
