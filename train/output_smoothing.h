#pragma once
// Smoothing of decoded velocity along each trial's time axis. Cortex decodes every bin from
// its own window, so neighbouring bins' predictions carry jitter that the hand's velocity
// does not have; a Gaussian of a few bins removes much of it (non-causal Cortex-S gains about
// 0.02 R^2 at sigma 30 ms, the recurrent GRU about 0.003 at 20 ms: bench/results/decoding.md).
// Non-causal: a symmetric Gaussian. Causal: its past half only, so the value at bin t still
// depends on spikes of bins <= t alone. The kernel is cut at 3 sigma and renormalised at the
// trial's edges, so a constant stays constant.
#include <cstdint>
#include <vector>

namespace cortex::train {

// values: [trials, bins, outputs] row-major, smoothed in place trial by trial. sigma_bins 0
// leaves them unchanged; a negative or non-finite sigma, or a size that is not a whole number
// of trials, is an error.
void smooth_predictions(std::vector<float>& values, int64_t bins, int64_t outputs, double sigma_bins, bool causal);

}  // namespace cortex::train
