#include "engine/op_profiler.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <mutex>
#include <vector>

namespace cortex::profiler {
namespace {

struct KernelStats {
  int64_t calls = 0;
  int64_t timed_calls = 0;  // calls with a device time
  double device_ms = 0;
  double host_ms = 0;
  bool nested = false;  // called from inside another kernel call; its time is part of that one's
};

struct State {
  std::mutex mutex;
  std::map<std::pair<std::string, std::string>, KernelStats> stats;  // (kernel, device kind)
  DeviceClock clocks[kNumDeviceTypes];
};

State& state() {
  static State s;
  return s;
}

// The kernel call this thread is inside, if any: a kernel that launches other kernels (a GEMM
// copying an operand to a dense layout first) would otherwise have that time counted twice.
thread_local const char* t_enclosing = nullptr;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool env_enabled() {
  const char* v = std::getenv("CORTEX_PROFILE");
  const bool on = v && *v && std::string(v) != "0";
  if (on) std::atexit([] { std::fprintf(stderr, "\nCORTEX_PROFILE kernel times\n%s\n", report().c_str()); });
  return on;
}

std::atomic<bool>& flag() {
  static std::atomic<bool> on{env_enabled()};
  return on;
}

}  // namespace

bool enabled() { return flag().load(std::memory_order_relaxed); }
void set_enabled(bool on) { flag().store(on, std::memory_order_relaxed); }

void reset() {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().stats.clear();
}

void register_device_clock(DeviceType type, DeviceClock clock) {
  std::lock_guard<std::mutex> lock(state().mutex);
  state().clocks[static_cast<int>(type)] = clock;
}

Scope::Scope(const char* kernel, Device device) : kernel_(kernel), device_(device), enclosing_(t_enclosing) {
  t_enclosing = kernel;
  const DeviceClock clock = state().clocks[static_cast<int>(device.type)];
  if (clock.start) token_ = clock.start(device);
  host_start_ns_ = now_ns();
}

Scope::~Scope() {
  t_enclosing = enclosing_;
  const double host_ms = static_cast<double>(now_ns() - host_start_ns_) / 1e6;
  double device_ms = -1;
  try {
    if (token_) device_ms = state().clocks[static_cast<int>(device_.type)].stop_ms(token_);
  } catch (const std::exception& e) {  // a failing kernel reports itself; the timing is lost
    std::fprintf(stderr, "op profiler: could not time %s: %s\n", kernel_, e.what());
  }
  std::lock_guard<std::mutex> lock(state().mutex);
  const std::string name = enclosing_ ? std::string(kernel_) + " (inside " + enclosing_ + ")" : kernel_;
  KernelStats& s = state().stats[{name, device_.is_cuda() ? "cuda" : "cpu"}];
  s.nested = enclosing_ != nullptr;
  ++s.calls;
  s.host_ms += host_ms;
  if (device_ms >= 0) {
    ++s.timed_calls;
    s.device_ms += device_ms;
  }
}

std::string report(size_t top) {
  struct Row {
    std::string kernel, device;
    KernelStats s;
    double ms() const { return s.timed_calls > 0 ? s.device_ms : s.host_ms; }
  };
  std::vector<Row> rows;
  {
    std::lock_guard<std::mutex> lock(state().mutex);
    for (const auto& [key, s] : state().stats) rows.push_back({key.first, key.second, s});
  }
  std::sort(rows.begin(), rows.end(), [](const Row& a, const Row& b) { return a.ms() > b.ms(); });
  double total_ms = 0, total_host_ms = 0;
  int64_t total_calls = 0;
  for (const Row& r : rows) {
    if (r.s.nested) continue;
    total_ms += r.ms();
    total_host_ms += r.s.host_ms;
    total_calls += r.s.calls;
  }
  std::string out =
      "| kernel | device | calls | total ms | share | mean device µs | mean host µs |\n|---|---|---|---|---|---|---|\n";
  char line[512];
  for (size_t i = 0; i < rows.size() && i < top; ++i) {
    const Row& r = rows[i];
    const double calls = static_cast<double>(std::max<int64_t>(r.s.calls, 1));
    std::snprintf(line, sizeof line, "| %s | %s | %lld | %.3f | %.1f%% | %s | %.1f |\n", r.kernel.c_str(),
                  r.device.c_str(), static_cast<long long>(r.s.calls), r.ms(),
                  total_ms > 0 ? 100.0 * r.ms() / total_ms : 0.0,
                  r.s.timed_calls > 0
                      ? std::to_string(1e3 * r.s.device_ms / static_cast<double>(r.s.timed_calls)).substr(0, 8).c_str()
                      : "–",
                  1e3 * r.s.host_ms / calls);
    out += line;
  }
  std::snprintf(line, sizeof line, "| all kernels | | %lld | %.3f | 100%% | | host total %.3f ms |\n",
                static_cast<long long>(total_calls), total_ms, total_host_ms);
  out += line;
  return out;
}

}  // namespace cortex::profiler
