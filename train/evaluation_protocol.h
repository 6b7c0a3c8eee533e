#pragma once
// The decoding protocol: five folds over the labelled trials (trial i in fold i mod 5); for
// each seed, a fresh model per fold is trained on the other folds and predicts every bin
// of its held-out trials; the predictions of all folds are pooled and scored by R^2 per
// velocity component, averaged over components. Reported as mean ± std over seeds.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/evaluation_metrics.h"
#include "train/trainer_config.h"
#include "train/trainer_data.h"
#include "train/trainer_decoding_task.h"

namespace cortex::train {

// One fold's held-out predictions, in the data's units: [trials.size(), bins, outputs]. The
// values are raw (unsmoothed) even where the run scored them smoothed, so a saved run can be
// rescored at any width; smooth_ms says which width its record was scored at.
struct FoldPredictions {
  std::string model;  // the run's name, as in its record (ProtocolResult::model)
  Protocol protocol = Protocol::causal;
  double smooth_ms = 0;
  uint64_t seed = 0;
  int64_t fold = 0;
  std::vector<int64_t> trials;  // indices into the labelled set
  int64_t bins = 0, outputs = 0;
  std::vector<float> values;
};

struct ProtocolOptions {
  Protocol protocol = Protocol::causal;
  std::vector<uint64_t> seeds{0, 1, 2};
  int64_t folds = 5;
  std::vector<int64_t> only_folds;  // run these folds only (empty: all); results-table pools the parts
  std::string label;  // the run's name in its record and predictions ("": the config's name)
  std::string run_root;  // "" keeps nothing; else a run folder per seed and fold goes here
  std::FILE* log = nullptr;
  // Called with every fold's held-out (raw) predictions once they are scored (empty: not kept).
  std::function<void(const FoldPredictions&)> on_predictions;
};

struct ProtocolResult {
  std::string model;         // options.label, else the config's name ("cortex-xs", "gru", ...)
  std::string family;        // cortex, gru, transformer, wiener
  int64_t parameters = 0;    // of the protocol's model (fold 0, first seed)
  Protocol protocol = Protocol::causal;
  std::vector<uint64_t> seeds;  // the seeds run, in order
  std::vector<double> r2_per_seed;
  std::vector<std::vector<double>> r2_components_per_seed;
  std::vector<R2Stats> stats_per_seed;  // pooled over the folds run
  std::vector<int64_t> folds_run;
  int64_t folds = 5;
  MeanStd r2;
  double train_seconds = 0;  // wall time of fitting every fold of every seed (prediction excluded)
  double total_seconds = 0;  // the whole protocol
  std::string device, dtype;
  int64_t pretrain_steps = 0, finetune_steps = 0, batch_size = 0;
  int64_t pretrain_batch_size = 0;  // samples per pre-training step (0 without pre-training)
  int64_t crop_min_bins = 0;  // train.crop_min_bins (whole-trial Cortex crops; 0: none)
  bool centred_windows = false;  // train.centred_windows (non-causal Cortex, a window per bin)
  double window_jitter_ms = 0;  // train.window_jitter_ms (whole-trial Cortex; 0: none)
  double lr = 0, weight_decay = 0, spike_dropout = 0;  // optim.lr, optim.weight_decay, train.spike_dropout
  double ema_decay = 0;                                // optim.ema_decay (0: the last step's weights)
  double drop_path = 0;                                // model.drop_path (Cortex's stochastic depth)
  double smooth_ms = 0;  // predict.smooth_ms (Gaussian sigma over the scored predictions; 0: raw)
  std::string data;

  nlohmann::json to_json() const;
};

// The JSON of R2Stats (rows, sum, sum_sq, ss_res) and back.
nlohmann::json r2_stats_json(const R2Stats& s);
R2Stats r2_stats_from_json(const nlohmann::json& j);

// Runs the protocol for the model of `config` (its model keys and trainer keys: steps,
// optimiser, device, dtype) on `data`.
ProtocolResult run_protocol(const TrainerConfig& config, const DecodingData& data, const ProtocolOptions& options);

}  // namespace cortex::train
