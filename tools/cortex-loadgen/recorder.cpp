#include "recorder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace loadgen {

void Recorder::record_sent(Clock::time_point scheduled) {
  if (scheduled < measure_from_) return;
  std::lock_guard<std::mutex> lock(mu_);
  ++sent_;
}

void Recorder::record(Clock::time_point scheduled, Clock::time_point done, int status) {
  record(scheduled, scheduled, done, status);
}

void Recorder::record(Clock::time_point scheduled, Clock::time_point sent, Clock::time_point done, int status) {
  if (scheduled < measure_from_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (status == 200) {
    ok_ms_.push_back(std::chrono::duration<double, std::milli>(done - scheduled).count());
    send_lag_ms_.push_back(std::chrono::duration<double, std::milli>(sent - scheduled).count());
  } else {
    errors_[status == 0 ? "network" : status < 0 ? "not_sent" : std::to_string(status)]++;
  }
}

namespace {
double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0.0;
  const size_t i = std::min(sorted.size() - 1, static_cast<size_t>(std::ceil(q * static_cast<double>(sorted.size()))) - 1);
  return sorted[i];
}
}  // namespace

Recorder::Summary Recorder::summarise(double seconds, double slo_ms) const {
  std::lock_guard<std::mutex> lock(mu_);
  Summary s;
  std::vector<double> sorted = ok_ms_;
  std::sort(sorted.begin(), sorted.end());
  s.seconds = seconds;
  s.sent = sent_;
  s.ok = static_cast<int64_t>(sorted.size());
  s.errors = errors_;
  s.offered_per_s = static_cast<double>(sent_) / seconds;
  s.throughput_per_s = static_cast<double>(s.ok) / seconds;
  const auto within = std::upper_bound(sorted.begin(), sorted.end(), slo_ms) - sorted.begin();
  s.goodput_per_s = static_cast<double>(within) / seconds;
  s.p50_ms = percentile(sorted, 0.50);
  s.p95_ms = percentile(sorted, 0.95);
  s.p99_ms = percentile(sorted, 0.99);
  s.p999_ms = percentile(sorted, 0.999);
  s.max_ms = sorted.empty() ? 0.0 : sorted.back();
  double sum = 0;
  for (double v : sorted) sum += v;
  s.mean_ms = sorted.empty() ? 0.0 : sum / static_cast<double>(sorted.size());
  std::vector<double> lag = send_lag_ms_;
  std::sort(lag.begin(), lag.end());
  s.send_lag_p50_ms = percentile(lag, 0.50);
  s.send_lag_p99_ms = percentile(lag, 0.99);
  s.send_lag_max_ms = lag.empty() ? 0.0 : lag.back();
  return s;
}

nlohmann::json to_json(const Recorder::Summary& s) {
  return {{"seconds", s.seconds},   {"sent", s.sent},
          {"ok", s.ok},             {"offered_per_s", s.offered_per_s},
          {"throughput_per_s", s.throughput_per_s}, {"goodput_per_s", s.goodput_per_s},
          {"p50_ms", s.p50_ms},     {"p95_ms", s.p95_ms},
          {"p99_ms", s.p99_ms},     {"p999_ms", s.p999_ms},
          {"mean_ms", s.mean_ms},   {"max_ms", s.max_ms},
          {"send_lag_p50_ms", s.send_lag_p50_ms}, {"send_lag_p99_ms", s.send_lag_p99_ms},
          {"send_lag_max_ms", s.send_lag_max_ms}, {"errors", s.errors}};
}

std::string to_text(const Recorder::Summary& s, double slo_ms) {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof(line), "sent %lld in %.1f s (offered %.1f/s), ok %lld: throughput %.1f/s, goodput %.1f/s (<= %.0f ms)\n",
                static_cast<long long>(s.sent), s.seconds, s.offered_per_s, static_cast<long long>(s.ok),
                s.throughput_per_s, s.goodput_per_s, slo_ms);
  os << line;
  std::snprintf(line, sizeof(line), "latency ms: p50 %.2f  p95 %.2f  p99 %.2f  p99.9 %.2f  mean %.2f  max %.2f\n",
                s.p50_ms, s.p95_ms, s.p99_ms, s.p999_ms, s.mean_ms, s.max_ms);
  os << line;
  std::snprintf(line, sizeof(line), "client send lag ms (due to sent, included above): p50 %.2f  p99 %.2f  max %.2f\n",
                s.send_lag_p50_ms, s.send_lag_p99_ms, s.send_lag_max_ms);
  os << line;
  os << "errors:";
  if (s.errors.empty()) os << " none";
  for (const auto& [status, n] : s.errors) os << " " << status << "=" << n;
  os << "\n";
  return os.str();
}

}  // namespace loadgen
