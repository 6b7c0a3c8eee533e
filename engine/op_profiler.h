#pragma once
// Per-kernel timing, to find where a forward pass or a training step spends its time without
// an external profiler (the GPU machine has no Nsight Systems). Every kernel-table call goes
// through KernelCall (engine/dispatch.h); while profiling is on, each call is timed on the
// host and, where the backend registered a device clock, on the device too (the CUDA clock
// records events around the call and waits for them, so a profiled run is slower than a
// plain one but each kernel's device time is exact). Off by default: the cost when off is one
// relaxed atomic load per kernel call. CORTEX_PROFILE=1 turns it on at start-up and prints
// the table to stderr at exit.
#include <cstdint>
#include <string>

#include "engine/device.h"

namespace cortex::profiler {

bool enabled();
void set_enabled(bool on);
void reset();

// Markdown table of the kernels by device time (host time where no device clock exists):
// calls, total ms, share, mean device µs, mean host µs (launch cost on the GPU). At most
// `top` rows. A kernel called from inside another kernel call (a GEMM copying an operand
// first) gets its own row "copy_kernel (inside matmul_kernel)"; its time is also part of the
// enclosing row, so the totals line counts outermost calls only.
std::string report(size_t top = 40);

// A backend's clock. start() records a mark on the device's current work queue and returns
// a token (nullptr: this call cannot be timed, e.g. during CUDA graph capture); stop_ms()
// waits for the work queued since and returns the device milliseconds between the marks.
struct DeviceClock {
  void* (*start)(Device device) = nullptr;
  double (*stop_ms)(void* token) = nullptr;
};
void register_device_clock(DeviceType type, DeviceClock clock);

// Times one kernel call; records on destruction.
class Scope {
 public:
  Scope(const char* kernel, Device device);
  ~Scope();
  Scope(const Scope&) = delete;
  Scope& operator=(const Scope&) = delete;

 private:
  const char* kernel_;
  Device device_;
  const char* enclosing_;
  void* token_ = nullptr;
  int64_t host_start_ns_ = 0;
};

}  // namespace cortex::profiler
