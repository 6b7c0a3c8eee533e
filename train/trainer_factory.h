#pragma once
// Builds the decoding task of a model family for one fold: Cortex (events), GRU and
// Transformer (binned sequences) and the Wiener filter (closed form).
#include <memory>
#include <string>

#include "nn/model_config.h"
#include "train/trainer_config.h"
#include "train/trainer_decoding_task.h"

namespace cortex::train {

struct TaskSettings {
  uint64_t seed = 0;
  Device device = Device::cpu();
  DType dtype = DType::f32;
  double mask_ratio = 0.25;
  double spike_dropout = 0.0;  // fine-tuning input thinning
  int64_t crop_min_bins = 0;   // non-causal Cortex fine-tuning: random trial crops (0: off)
  double window_jitter_ms = 0;  // non-causal Cortex fine-tuning: random window-start shifts (0: off)
  bool centred_windows = false; // non-causal Cortex: a window centred on each bin instead of whole trials
  double smooth_ms = 0;         // predict.smooth_ms: Gaussian smoothing of scored predictions (0: off)
};

// The model config of a trainer config (its model keys), with data-dependent fields
// (input units of the baselines) set from `data` and the protocol applied.
nn::ModelConfig resolve_model_config(const TrainerConfig& config, const DecodingData& data, Protocol protocol);
// The same model config as flat YAML (what checkpoints store).
std::string model_config_yaml(const nn::ModelConfig& config);

std::unique_ptr<DecodingTask> make_task(const nn::ModelConfig& model, const FoldData& fold, Protocol protocol,
                                        const TaskSettings& settings);

// Device and dtype of a trainer config, checked: a CUDA device must exist.
TaskSettings task_settings(const TrainerConfig& config);

}  // namespace cortex::train
