#pragma once
// Masked-spike pre-training input: hide a random fraction of each sample's (unit, time bin)
// cells from the encoder and ask the masked-spike head for their counts (zeros included,
// so the head learns silence as well as firing).
#include <cstdint>

#include "nn/cortex/spike_batch.h"

namespace cortex::nn {

struct MaskedBatch {
  CortexInput input;           // the events that stay visible
  MaskedSpikeQueries queries;  // the hidden cells with their observed counts
};

// Cells are (u, k) for every unit u with an event in the sample and every bin k of the
// window; each is hidden with probability mask_ratio, decided by Philox from
// (seed, sample, unit, bin), so the same seed gives the same mask on any machine.
MaskedBatch mask_spike_cells(const CortexInput& input, double window_ms, double bin_ms, double mask_ratio,
                             uint64_t seed);

}  // namespace cortex::nn
