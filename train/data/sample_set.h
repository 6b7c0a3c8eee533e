#pragma once
// Fixed-length samples ready for a model: the common output of trial alignment, sliding
// windows and the benchmark's tensor export. Storage is contiguous [samples, bins, columns]
// per stream, so a batch is a gather of whole samples (see to_tensor.h).
#include <cstdint>
#include <string>
#include <vector>

namespace cortex::data {

struct SampleSet {
  int64_t bins = 0;
  double bin_s = 0.005;
  std::vector<int64_t> heldin_ids;   // unit id of each held-in column
  std::vector<int64_t> heldout_ids;  // unit id of each held-out column
  std::string behavior_name;         // "" when the set has no behaviour
  int64_t behavior_dims = 0;
  std::vector<float> heldin;    // [samples, bins, heldin_ids.size()] spike counts
  std::vector<float> heldout;   // [samples, bins, heldout_ids.size()] spike counts
  std::vector<float> behavior;  // [samples, bins, behavior_dims]
  std::vector<double> t_start;  // per sample: session time of the first bin's left edge (NaN if unknown)
  std::vector<int64_t> trial;   // per sample: trial index, or -1 for a sliding window
  int64_t dropped = 0;          // windows skipped for missing behaviour or movement onset

  int64_t samples() const { return static_cast<int64_t>(t_start.size()); }
  int64_t heldin_units() const { return static_cast<int64_t>(heldin_ids.size()); }
  int64_t heldout_units() const { return static_cast<int64_t>(heldout_ids.size()); }
  // Throws a cortex::Error naming the stream whose size disagrees with the metadata.
  void validate() const;
};

// The samples at `indices` (in that order; repeats allowed), e.g. for a train/validation split.
SampleSet select_samples(const SampleSet& set, const std::vector<int64_t>& indices);

}  // namespace cortex::data
