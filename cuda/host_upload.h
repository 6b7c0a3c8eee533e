#pragma once
// Overlapping host-to-device input copies with compute (the trainer's and server's batches):
// the copy runs on a separate copy stream out of pinned memory, so neither the host nor the
// compute stream waits for it until the compute stream reaches work that uses the result.
#include <cuda_runtime.h>

#include "engine/tensor.h"

namespace cortex::cuda {

// Copies host tensor `host` to `device` on `copy_stream` and returns the device tensor at
// once. The device's current stream waits (on the GPU, not the host) for the copy before any
// work enqueued on it afterwards, and the result's memory is not reused before that work is
// done. The host tensor may be changed or freed as soon as this returns.
Tensor upload_async(const Tensor& host, Device device, cudaStream_t copy_stream);

}  // namespace cortex::cuda
