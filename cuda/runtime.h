#pragma once
// The CUDA runtime layer shared by every kernel file: error checks, devices, the current
// stream. Kernels launch on current_stream(); nothing here synchronises implicitly.
#include <cuda_runtime.h>

#include <cstdint>
#include <string>

#include "cuda/host_wait.h"
#include "engine/error.h"

namespace cortex::cuda {

// Throws cortex::Error naming the CUDA call, file and line.
[[noreturn]] void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line);
// After a kernel launch: always checks the launch error; in debug builds (or with
// CORTEX_CUDA_SYNC_CHECK=1 in the environment) also synchronises to surface faults at the kernel.
void check_launch(const char* kernel, const char* file, int line);

int device_count();
int current_device();
void set_device(int device);
int multiprocessor_count(int device);  // cached

// How a host thread waits for `device` (a synchronising copy, a stream or event sync; the modes
// in cuda/host_wait.h). Applies to the device's primary context from then on, already
// initialised or not.
void set_host_wait(int device, HostWait mode);
HostWait host_wait(int device);

// Blocks for a grid-stride loop over n elements: enough to fill the device, capped so that
// each thread handles several elements of large tensors.
unsigned grid_blocks(int64_t n, int threads_per_block, int device);

// The stream ops launch on for the calling thread and device (default: a per-device stream
// created on first use, not the legacy default stream).
cudaStream_t current_stream();
void set_current_stream(cudaStream_t stream);
// The same for a given device; set_current_stream(device, nullptr) goes back to the default.
cudaStream_t current_stream(int device);
void set_current_stream(int device, cudaStream_t stream);
// The per-device non-blocking stream every thread starts on.
cudaStream_t default_stream(int device);

// True while `stream` is being captured into a CUDA graph (nothing may synchronise it then).
bool is_capturing(cudaStream_t stream);
// Whether check_launch synchronises: debug builds, or CORTEX_CUDA_SYNC_CHECK=1.
bool sync_check_enabled();

// Makes `device` current for the scope.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_;
  int device_;
};

// Makes `stream` current for the scope.
class StreamGuard {
 public:
  explicit StreamGuard(cudaStream_t stream) : previous_(current_stream()) { set_current_stream(stream); }
  ~StreamGuard() { set_current_stream(previous_); }
  StreamGuard(const StreamGuard&) = delete;
  StreamGuard& operator=(const StreamGuard&) = delete;

 private:
  cudaStream_t previous_;
};

}  // namespace cortex::cuda

#define CORTEX_CUDA_CHECK(expr)                                                               \
  do {                                                                                        \
    cudaError_t cortex_err_ = (expr);                                                         \
    if (cortex_err_ != cudaSuccess) ::cortex::cuda::throw_cuda_error(cortex_err_, #expr, __FILE__, __LINE__); \
  } while (0)

#define CORTEX_CUDA_CHECK_LAUNCH(kernel_name) ::cortex::cuda::check_launch(kernel_name, __FILE__, __LINE__)
