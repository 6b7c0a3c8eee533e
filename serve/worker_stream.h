#pragma once
// Gives each scheduler worker thread its own CUDA stream, so two workers' batches (their
// uploads, graph replays and result copies) run side by side on the GPU and each worker waits
// only for its own stream (copies to the host synchronise the current stream, not the device).
#include "engine/tensor.h"

namespace cortex::serve {

// Makes a non-blocking stream, created once per thread and device, the calling thread's
// current stream on `device`. No-op for CPU devices and builds without CUDA.
void use_worker_stream(Device device);
// Waits until the calling thread's current stream on `device` has finished its work.
void wait_worker_stream(Device device);

}  // namespace cortex::serve
