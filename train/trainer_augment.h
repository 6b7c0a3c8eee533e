#pragma once
// Training-time augmentation of spike counts: binomial thinning ("spike dropout"), each
// spike kept with probability 1 - p. Decided by Philox from (seed, sample, cell, spike), so
// a step repeats exactly on resume and on any machine.
#include <cstdint>

namespace cortex::train {

// Spikes of one cell that survive.
int32_t thin_count(int32_t count, double p, uint64_t seed, uint64_t sample, uint64_t cell);
// Thins counts[0 .. n) in place (cells numbered 0 .. n-1); p == 0 leaves them alone.
void thin_counts(float* counts, int64_t n, double p, uint64_t seed, uint64_t sample);

}  // namespace cortex::train
