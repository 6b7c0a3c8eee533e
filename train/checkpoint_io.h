#pragma once
// Training checkpoints in a run folder. Each one is two .safetensors files:
//   checkpoints/step_<N>.safetensors          the model's weights; __metadata__ holds the
//                                              model config (cortex-serve --model rebuilds
//                                              the model from it) and the output scaling
//   checkpoints/step_<N>.trainer.safetensors  optimiser state; __metadata__ "trainer_state"
//                                              holds step, phase, sampler position and RNGs
// The trainer file is written first and the model file last, each atomically, so a model
// file with its trainer file beside it is a complete checkpoint.
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "nn/safetensors.h"

namespace cortex::train {

// Keys of the model file's __metadata__ (values are strings, as the format requires).
inline constexpr const char* kMetaFormat = "format";            // "cortex-checkpoint-v1"
inline constexpr const char* kMetaModelConfig = "model_config";  // the flat model YAML (configs/*.yaml layout)
inline constexpr const char* kMetaStep = "step";
inline constexpr const char* kMetaPhase = "phase";
inline constexpr const char* kCheckpointFormat = "cortex-checkpoint-v1";
inline constexpr const char* kMetaTrainerState = "trainer_state";

struct CheckpointPaths {
  std::string model, trainer;
};
CheckpointPaths checkpoint_paths(const std::string& run_dir, int64_t step);
// The trainer file that belongs to a model file.
std::string trainer_path_for(const std::string& model_path);

void save_checkpoint(const CheckpointPaths& paths, const nn::StateDict& model, nn::Metadata model_metadata,
                     const nn::StateDict& optimizer, const nlohmann::json& trainer_state);

struct LoadedCheckpoint {
  nn::SafetensorsFile model;
  nn::StateDict optimizer;
  nlohmann::json trainer_state;
};
// Reads both files of a checkpoint onto `device`; throws naming the file that is missing
// or malformed.
LoadedCheckpoint load_checkpoint(const std::string& model_path, Device device);

// The complete checkpoint of the highest step in run_dir/checkpoints ("" when none).
std::string latest_checkpoint(const std::string& run_dir);

}  // namespace cortex::train
