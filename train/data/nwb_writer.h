#pragma once
// Writes a Recording as an NWB 2.x file with the layout read_nwb reads (see docs/data.md):
// /units (id, spike_times, spike_times_index, heldout), /intervals/trials (id, start_time,
// stop_time, move_onset_time), /processing/behavior/<name> (data + timestamps, or
// starting_time + rate), plus the NWBFile root attributes and required top-level datasets.
#include <string>

#include "train/data/h5.h"
#include "train/data/recording.h"

namespace cortex::data {

struct NwbWriteOptions {
  // Width of /units/spike_times_index; hdmf picks the smallest unsigned type that fits.
  h5::IntType index_type = h5::IntType::u32;
  // Store each behaviour series as starting_time + rate (its timestamps must be regular).
  bool behavior_as_rate = false;
  std::string identifier = "cortex-recording";
  std::string session_description = "written by Cortex Engine";
};

void write_nwb(const std::string& file, const Recording& recording, const NwbWriteOptions& options = {});

}  // namespace cortex::data
