#include "cuda/runtime.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/device.h"

namespace cortex::cuda {

void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  cudaGetLastError();  // clear a non-sticky error so the next call does not report it again
  throw Error(detail::concat("CUDA error: ", call, " failed at ", file, ":", line, ": ", cudaGetErrorName(err), " (",
                             cudaGetErrorString(err), ")"));
}

bool sync_check_enabled() {
  static const bool enabled = [] {
#ifndef NDEBUG
    return true;
#else
    const char* v = std::getenv("CORTEX_CUDA_SYNC_CHECK");
    return v != nullptr && std::strcmp(v, "1") == 0;
#endif
  }();
  return enabled;
}

bool is_capturing(cudaStream_t stream) {
  cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
  CORTEX_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
  return status != cudaStreamCaptureStatusNone;
}

void check_launch(const char* kernel, const char* file, int line) {
  cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess) throw_cuda_error(err, detail::concat("launch of kernel ", kernel).c_str(), file, line);
  if (!sync_check_enabled()) return;
  cudaStream_t stream = current_stream();
  if (is_capturing(stream)) return;  // a capturing stream cannot be synchronised
  err = cudaStreamSynchronize(stream);
  if (err != cudaSuccess)
    throw_cuda_error(err, detail::concat("kernel ", kernel, " (found by the synchronising launch check)").c_str(), file,
                     line);
}

int device_count() {
  // No driver or no GPU is an ordinary answer (0), never an error: CPU-only machines load this library too.
  static const int count = [] {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return n;
  }();
  return count;
}

namespace {

void check_device_index(int device, const char* op) {
  const int n = device_count();
  CORTEX_CHECK(device >= 0 && device < n, op, "device cuda:", device, " does not exist (",
               n == 0 ? "no CUDA device is visible" : detail::concat(n, " CUDA device(s) visible"), ")");
}

struct DefaultStream {
  std::once_flag once;
  cudaStream_t stream = nullptr;
};

// One slot per device, created with the count; never destroyed (streams outlive static teardown).
DefaultStream* default_streams() {
  static DefaultStream* slots = new DefaultStream[static_cast<size_t>(std::max(device_count(), 1))];
  return slots;
}

// Per thread: the stream set for each device, nullptr meaning "the device's default".
thread_local std::vector<cudaStream_t> t_current_streams;

// Registered from a static initialiser: only stores a function pointer, never calls CUDA.
const bool g_registered = (register_device_counter(DeviceType::CUDA, &device_count), true);

}  // namespace

int current_device() {
  int d = 0;
  CORTEX_CUDA_CHECK(cudaGetDevice(&d));
  return d;
}

void set_device(int device) {
  check_device_index(device, "set_device");
  CORTEX_CUDA_CHECK(cudaSetDevice(device));
}

DeviceGuard::DeviceGuard(int device) : previous_(current_device()), device_(device) {
  if (device_ != previous_) set_device(device_);
}
DeviceGuard::~DeviceGuard() {
  if (device_ != previous_) cudaSetDevice(previous_);
}

namespace {

unsigned schedule_flag(HostWait mode) {
  switch (mode) {
    case HostWait::automatic: return cudaDeviceScheduleAuto;
    case HostWait::spin: return cudaDeviceScheduleSpin;
    case HostWait::yield: return cudaDeviceScheduleYield;
    case HostWait::blocking: return cudaDeviceScheduleBlockingSync;
  }
  return cudaDeviceScheduleAuto;
}

}  // namespace

void set_host_wait(int device, HostWait mode) {
  check_device_index(device, "set_host_wait");
  DeviceGuard guard(device);
  unsigned flags = 0;
  CORTEX_CUDA_CHECK(cudaGetDeviceFlags(&flags));
  // Only the scheduling bits change; the context's other flags stay as they are.
  flags = (flags & ~static_cast<unsigned>(cudaDeviceScheduleMask)) | schedule_flag(mode);
  CORTEX_CUDA_CHECK(cudaSetDeviceFlags(flags));
}

HostWait host_wait(int device) {
  check_device_index(device, "host_wait");
  DeviceGuard guard(device);
  unsigned flags = 0;
  CORTEX_CUDA_CHECK(cudaGetDeviceFlags(&flags));
  switch (flags & cudaDeviceScheduleMask) {
    case cudaDeviceScheduleSpin: return HostWait::spin;
    case cudaDeviceScheduleYield: return HostWait::yield;
    case cudaDeviceScheduleBlockingSync: return HostWait::blocking;
    default: return HostWait::automatic;
  }
}

int multiprocessor_count(int device) {
  check_device_index(device, "multiprocessor_count");
  static std::vector<int> counts = [] {
    std::vector<int> c(static_cast<size_t>(device_count()), 0);
    for (int d = 0; d < device_count(); ++d)
      CORTEX_CUDA_CHECK(cudaDeviceGetAttribute(&c[d], cudaDevAttrMultiProcessorCount, d));
    return c;
  }();
  return counts[device];
}

unsigned grid_blocks(int64_t n, int threads_per_block, int device) {
  const int64_t wanted = (n + threads_per_block - 1) / threads_per_block;
  const int64_t cap = static_cast<int64_t>(multiprocessor_count(device)) * 16;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min(wanted, cap)));
}

cudaStream_t default_stream(int device) {
  check_device_index(device, "default_stream");
  DefaultStream& slot = default_streams()[device];
  std::call_once(slot.once, [&] {
    DeviceGuard guard(device);
    CORTEX_CUDA_CHECK(cudaStreamCreateWithFlags(&slot.stream, cudaStreamNonBlocking));
  });
  return slot.stream;
}

cudaStream_t current_stream(int device) {
  check_device_index(device, "current_stream");
  if (static_cast<size_t>(device) < t_current_streams.size() && t_current_streams[device] != nullptr)
    return t_current_streams[device];
  return default_stream(device);
}

void set_current_stream(int device, cudaStream_t stream) {
  check_device_index(device, "set_current_stream");
  if (t_current_streams.size() <= static_cast<size_t>(device)) t_current_streams.resize(device + 1, nullptr);
  t_current_streams[device] = stream;
}

cudaStream_t current_stream() { return current_stream(current_device()); }
void set_current_stream(cudaStream_t stream) { set_current_stream(current_device(), stream); }

}  // namespace cortex::cuda
