#pragma once
// Training-time augmentation: binomial thinning of spike counts ("spike dropout"), each
// spike kept with probability 1 - p, and random crops of whole trials. Decided by Philox
// from (seed, sample, ...), so a step repeats exactly on resume and on any machine.
#include <cstdint>

namespace cortex::train {

// Spikes of one cell that survive.
int32_t thin_count(int32_t count, double p, uint64_t seed, uint64_t sample, uint64_t cell);
// Thins counts[0 .. n) in place (cells numbered 0 .. n-1); p == 0 leaves them alone.
void thin_counts(float* counts, int64_t n, double p, uint64_t seed, uint64_t sample);

// Bins [first, last] (inclusive) of a trial.
struct BinRange {
  int64_t first = 0, last = 0;
};
// Random crop for whole-trial training: a run of consecutive bins of a `bins`-bin trial, at
// least `min_bins` long, its length and then its start uniform over what fits. With
// min_bins <= 0 or >= bins the whole trial. Its own Philox stream, apart from thinning's.
BinRange random_crop(int64_t bins, int64_t min_bins, uint64_t seed, uint64_t sample);
// Uniform draw in [lo, hi] (lo when hi <= lo), from a Philox stream apart from thinning's and
// the crops'.
double random_in(double lo, double hi, uint64_t seed, uint64_t sample);

}  // namespace cortex::train
