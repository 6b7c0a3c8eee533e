#include "train/data/to_tensor.h"

#include <numeric>

#include "engine/factory.h"

namespace cortex::data {

SampleBatch make_batch(const SampleSet& set, const std::vector<int64_t>& indices, Device device) {
  const SampleSet picked = select_samples(set, indices);
  const auto b = static_cast<int64_t>(indices.size());
  SampleBatch batch;
  batch.heldin = from_vector(picked.heldin, {b, set.bins, set.heldin_units()}, device);
  if (set.heldout_units() > 0) batch.heldout = from_vector(picked.heldout, {b, set.bins, set.heldout_units()}, device);
  if (set.behavior_dims > 0) batch.behavior = from_vector(picked.behavior, {b, set.bins, set.behavior_dims}, device);
  return batch;
}

SampleBatch all_samples(const SampleSet& set, Device device) {
  std::vector<int64_t> indices(static_cast<size_t>(set.samples()));
  std::iota(indices.begin(), indices.end(), 0);
  return make_batch(set, indices, device);
}

Tensor counts_tensor(const BinnedCounts& counts, Device device) {
  return from_vector(counts.counts, {counts.bins, counts.units}, device);
}

}  // namespace cortex::data
