#include "train/data/sample_set.h"

#include "engine/error.h"

namespace cortex::data {

void SampleSet::validate() const {
  const size_t n = static_cast<size_t>(samples()), t = static_cast<size_t>(bins);
  CORTEX_CHECK(bins >= 0 && bin_s > 0, "SampleSet", "bins ", bins, " / bin_s ", bin_s, " invalid");
  CORTEX_CHECK(trial.size() == n, "SampleSet", "trial has ", trial.size(), " entries for ", n, " samples");
  CORTEX_CHECK(heldin.size() == n * t * heldin_ids.size(), "SampleSet", "heldin holds ", heldin.size(),
               " values, expected ", n, " x ", t, " x ", heldin_ids.size());
  CORTEX_CHECK(heldout.size() == n * t * heldout_ids.size(), "SampleSet", "heldout holds ", heldout.size(),
               " values, expected ", n, " x ", t, " x ", heldout_ids.size());
  CORTEX_CHECK(behavior_dims >= 0 && behavior.size() == n * t * static_cast<size_t>(behavior_dims), "SampleSet",
               "behavior holds ", behavior.size(), " values, expected ", n, " x ", t, " x ", behavior_dims);
}

namespace {
void gather(const std::vector<float>& src, size_t per_sample, const std::vector<int64_t>& indices,
            std::vector<float>& dst) {
  dst.reserve(indices.size() * per_sample);
  for (int64_t i : indices) {
    const auto begin = src.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(i) * per_sample);
    dst.insert(dst.end(), begin, begin + static_cast<std::ptrdiff_t>(per_sample));
  }
}
}  // namespace

SampleSet select_samples(const SampleSet& set, const std::vector<int64_t>& indices) {
  set.validate();
  for (int64_t i : indices)
    CORTEX_CHECK(i >= 0 && i < set.samples(), "select_samples", "index ", i, " out of range for ", set.samples(),
                 " samples");
  SampleSet out;
  out.bins = set.bins;
  out.bin_s = set.bin_s;
  out.heldin_ids = set.heldin_ids;
  out.heldout_ids = set.heldout_ids;
  out.behavior_name = set.behavior_name;
  out.behavior_dims = set.behavior_dims;
  const size_t t = static_cast<size_t>(set.bins);
  gather(set.heldin, t * set.heldin_ids.size(), indices, out.heldin);
  gather(set.heldout, t * set.heldout_ids.size(), indices, out.heldout);
  gather(set.behavior, t * static_cast<size_t>(set.behavior_dims), indices, out.behavior);
  for (int64_t i : indices) {
    out.t_start.push_back(set.t_start[static_cast<size_t>(i)]);
    out.trial.push_back(set.trial[static_cast<size_t>(i)]);
  }
  return out;
}

}  // namespace cortex::data
