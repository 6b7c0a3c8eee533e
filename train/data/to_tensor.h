#pragma once
// Binned data as cortex::Tensor (f32), on any device.
#include <vector>

#include "engine/tensor.h"
#include "train/data/binning.h"
#include "train/data/sample_set.h"

namespace cortex::data {

// A batch of samples: heldin [B, T, U_in], heldout [B, T, U_out], behavior [B, T, C], all f32.
// heldout / behavior are undefined tensors when the set has no held-out units / no behaviour.
struct SampleBatch {
  Tensor heldin, heldout, behavior;
};

// The samples at `indices`, in that order.
SampleBatch make_batch(const SampleSet& set, const std::vector<int64_t>& indices, Device device = Device::cpu());
// Every sample of the set.
SampleBatch all_samples(const SampleSet& set, Device device = Device::cpu());

// Whole-session counts [bins, units].
Tensor counts_tensor(const BinnedCounts& counts, Device device = Device::cpu());

}  // namespace cortex::data
