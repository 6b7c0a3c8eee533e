#pragma once
// The Neural Latents Benchmark's HDF5 tensor export (not NWB): flat float32 datasets such as
// train_spikes_heldin [trials, bins, units], train_spikes_heldout, train_behavior
// [trials, bins, 2] and eval_spikes_heldin. For MC_Maze_Small: 5 ms bins, 140 bins =
// -250..+450 ms around movement onset, behaviour already shifted by the benchmark's lag.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "train/data/sample_set.h"

namespace cortex::data {

// The export's time grid (it stores none itself).
constexpr double kExportBinS = 0.005;
constexpr double kExportAlignStartS = -0.25;  // first bin's start relative to movement onset

struct FloatArray {
  std::vector<int64_t> shape;
  std::vector<float> values;  // row-major
};

// Every dataset directly under the root, converted to float32.
std::map<std::string, FloatArray> read_tensor_export(const std::string& file);

// <prefix>_spikes_heldin (required), <prefix>_spikes_heldout and <prefix>_behavior (optional) as
// a SampleSet: bins from the shape, bin_s = kExportBinS, unit ids 0.. for held-in then held-out
// columns, t_start NaN, trial = row. Throws naming the dataset when shapes disagree.
SampleSet export_to_samples(const std::map<std::string, FloatArray>& arrays, const std::string& prefix);

// The folder holding mc_maze_small_train.h5 and mc_maze_small_val.h5, looked up in order:
// $CORTEX_DATA_DIR (the folder itself or its mc_maze_small/ subfolder); then
// ../shared/data/mc_maze_small and shared/data/mc_maze_small beside the repository root, found
// from $CORTEX_SOURCE_DIR or by walking up from the working directory. nullopt when absent.
std::optional<std::string> find_mc_maze_small();

// The benchmark's train split (75 trials: spikes + behaviour) or eval split (25 trials,
// spikes only) from that folder; split is "train" or "eval".
SampleSet load_mc_maze_small(const std::string& dir, const std::string& split);

}  // namespace cortex::data
