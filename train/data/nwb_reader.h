#pragma once
// Reads the parts of an NWB 2.x file (as published on DANDI, e.g. dandiset 000140) that the
// trainer needs, through the HDF5 C API:
//   /units/spike_times (float) + /units/spike_times_index (ragged end offsets, any integer
//   width and sign), /units/id, optional /units/heldout (bool enum or integer);
//   /intervals/trials/{start_time, stop_time, move_onset_time (optional)};
//   every TimeSeries under /processing/behavior (a group with `data` [T] or [T, C] and either
//   `timestamps` [T] or `starting_time` with attribute `rate`), also one level inside
//   containers such as Position. The data's `conversion` and `offset` attributes are applied.
// Anything missing or malformed throws cortex::Error "read_nwb <file>: <HDF5 path>: <expected>".
#include <string>

#include "train/data/recording.h"

namespace cortex::data {

struct NwbReadOptions {
  bool require_trials = true;  // a file without /intervals/trials is an error (off for `inspect`)
};

Recording read_nwb(const std::string& file, const NwbReadOptions& options = {});

}  // namespace cortex::data
