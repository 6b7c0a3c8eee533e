#pragma once
// Spike counts and behaviour on a regular time grid. Bin b of a grid starting at t0 covers
// [t0 + b*bin_s, t0 + (b+1)*bin_s); a spike on an edge (within 1e-9 of a bin) belongs to the
// later bin. Counts are float so they feed tensors directly.
#include <cstdint>
#include <vector>

#include "train/data/recording.h"

namespace cortex::data {

constexpr double kDefaultBinS = 0.005;

// Counts of the units rec.units[unit_indices[j]] into out[b * unit_indices.size() + j]
// (out: bins x units, overwritten). Spike times must be sorted (read_nwb and synthesize do).
void bin_spikes(const Recording& rec, const std::vector<int64_t>& unit_indices, double t0, double bin_s,
                int64_t bins, float* out);

// Behaviour on the same grid, written to out[b * channels + c]: the mean of the samples that
// fall in a bin; a bin holding no sample gets the linear interpolation at its centre; a bin
// whose centre lies outside the series' time range (and holds no sample) gets NaN.
void resample_behavior(const BehaviorSeries& series, double t0, double bin_s, int64_t bins, float* out);

// The whole session binned: counts [bins, units] (all units, in rec.units order) over a grid
// aligned to multiples of bin_s that covers [rec.t_start(), rec.t_stop()].
struct BinnedCounts {
  double t0 = 0;
  double bin_s = kDefaultBinS;
  int64_t bins = 0;
  int64_t units = 0;
  std::vector<float> counts;  // [bins, units] row-major
  float at(int64_t bin, int64_t unit) const { return counts[static_cast<size_t>(bin * units + unit)]; }
};
BinnedCounts bin_recording(const Recording& rec, double bin_s = kDefaultBinS);

}  // namespace cortex::data
