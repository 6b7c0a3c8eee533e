#pragma once
// The decoding protocol: five folds over the labelled trials (trial i in fold i mod 5); for
// each seed, a fresh model per fold is trained on the other folds and predicts every bin
// of its held-out trials; the predictions of all folds are pooled and scored by R^2 per
// velocity component, averaged over components. Reported as mean ± std over seeds.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/evaluation_metrics.h"
#include "train/trainer_config.h"
#include "train/trainer_data.h"
#include "train/trainer_decoding_task.h"

namespace cortex::train {

struct ProtocolOptions {
  Protocol protocol = Protocol::causal;
  std::vector<uint64_t> seeds{0, 1, 2};
  int64_t folds = 5;
  std::string run_root;  // "" keeps nothing; else a run folder per seed and fold goes here
  std::FILE* log = nullptr;
};

struct ProtocolResult {
  std::string model;         // config name ("cortex-xs", "gru", ...)
  std::string family;        // cortex, gru, transformer, wiener
  int64_t parameters = 0;    // of the protocol's model (fold 0, first seed)
  Protocol protocol = Protocol::causal;
  std::vector<double> r2_per_seed;
  std::vector<std::vector<double>> r2_components_per_seed;
  MeanStd r2;
  double train_seconds = 0;  // wall time of fitting every fold of every seed (prediction excluded)
  double total_seconds = 0;  // the whole protocol
  std::string device, dtype;
  int64_t pretrain_steps = 0, finetune_steps = 0, batch_size = 0;
  std::string data;

  nlohmann::json to_json() const;
};

// Runs the protocol for the model of `config` (its model keys and trainer keys: steps,
// optimiser, device, dtype) on `data`.
ProtocolResult run_protocol(const TrainerConfig& config, const DecodingData& data, const ProtocolOptions& options);

}  // namespace cortex::train
