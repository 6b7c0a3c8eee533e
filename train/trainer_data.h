#pragma once
// The decoding data of a run: labelled trials (spikes + velocity) and optional unlabelled
// trials (spikes only, for self-supervised pre-training), split into the protocol's folds,
// with the velocity scaling the models train against.
#include <cstdint>
#include <string>
#include <vector>

#include "train/data/sample_set.h"
#include "train/trainer_config.h"

namespace cortex::train {

struct DecodingData {
  data::SampleSet labelled;    // trial-aligned samples with behaviour
  data::SampleSet unlabelled;  // spikes only (samples() may be 0)
  std::string description;     // "MC_Maze_Small (75 labelled + 25 unlabelled trials, 107 units) from <dir>"

  int64_t units() const { return labelled.heldin_units(); }
  int64_t bins() const { return labelled.bins; }
  double bin_ms() const { return labelled.bin_s * 1000.0; }
  int64_t outputs() const { return labelled.behavior_dims; }
};

// data=mc_maze_small: the benchmark's tensor export (train split labelled, eval split
// unlabelled) from data_dir or the shared data folder; data=synthetic: the built-in
// generator (synthetic.*) cut into trial-aligned samples; otherwise an NWB file cut the
// same way. Only held-in units are used. Throws naming what is missing.
DecodingData load_decoding_data(const TrainerConfig& config);

// Per-component mean and standard deviation of the velocity over some trials' bins.
struct OutputScaling {
  std::vector<double> mean, std;
  // Throws when a component has (near) zero variance.
  static OutputScaling fit(const data::SampleSet& set, const std::vector<int64_t>& trials);
  double normalise(double v, int64_t c) const { return (v - mean[c]) / std[c]; }
  double restore(double v, int64_t c) const { return v * std[c] + mean[c]; }
  std::string to_json() const;
};

// One fold of the protocol: trial i of the labelled set is in fold i mod num_folds.
// fold == -1 trains on every labelled trial and holds none out.
struct FoldData {
  const DecodingData* data = nullptr;
  std::vector<int64_t> train_trials, test_trials;
  OutputScaling scaling;  // fitted on train_trials only
};
FoldData make_fold(const DecodingData& data, int64_t fold, int64_t num_folds = 5);

}  // namespace cortex::train
