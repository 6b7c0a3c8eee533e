#pragma once
// Smoothing of decoded velocity along each trial's time axis. Cortex decodes every bin from
// its own window, so neighbouring bins' predictions carry jitter that the hand's velocity
// does not have; a Gaussian of a few bins removes much of it (measured in
// bench/results/decoding.md). Non-causal: a symmetric Gaussian. Causal: its past half only,
// so the value at bin t still depends on spikes of bins <= t alone. The kernel is cut at
// 3 sigma (and at the trial's length) and renormalised at the trial's edges, so a constant
// stays constant.
#include <cstdint>
#include <vector>

namespace cortex::train {

// values: [trials, bins, outputs] row-major, smoothed in place trial by trial. sigma_bins 0
// leaves them unchanged; a negative or non-finite sigma, or a size that is not a whole number
// of trials, is an error.
void smooth_predictions(std::vector<float>& values, int64_t bins, int64_t outputs, double sigma_bins, bool causal);

}  // namespace cortex::train
