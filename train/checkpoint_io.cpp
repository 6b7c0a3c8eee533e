#include "train/checkpoint_io.h"

#include <cstdio>
#include <filesystem>
#include <regex>

#include "engine/error.h"

namespace cortex::train {
namespace fs = std::filesystem;

CheckpointPaths checkpoint_paths(const std::string& run_dir, int64_t step) {
  char name[64];
  std::snprintf(name, sizeof name, "step_%09lld", static_cast<long long>(step));
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  return {(dir / (std::string(name) + ".safetensors")).string(),
          (dir / (std::string(name) + ".trainer.safetensors")).string()};
}

std::string trainer_path_for(const std::string& model_path) {
  const std::string suffix = ".safetensors";
  CORTEX_CHECK(model_path.size() > suffix.size() &&
                   model_path.compare(model_path.size() - suffix.size(), suffix.size(), suffix) == 0,
               "checkpoint", "'", model_path, "' is not a .safetensors file");
  return model_path.substr(0, model_path.size() - suffix.size()) + ".trainer.safetensors";
}

void save_checkpoint(const CheckpointPaths& paths, const nn::StateDict& model, nn::Metadata model_metadata,
                     const nn::StateDict& optimizer, const nlohmann::json& trainer_state) {
  fs::create_directories(fs::path(paths.model).parent_path());
  nn::save_safetensors(paths.trainer, optimizer, {{kMetaFormat, kCheckpointFormat},
                                                  {kMetaTrainerState, trainer_state.dump()}});
  model_metadata[kMetaFormat] = kCheckpointFormat;
  nn::save_safetensors(paths.model, model, model_metadata);
}

LoadedCheckpoint load_checkpoint(const std::string& model_path, Device device) {
  CORTEX_CHECK(fs::is_regular_file(model_path), "load_checkpoint", "checkpoint '", model_path, "' does not exist");
  const std::string trainer = trainer_path_for(model_path);
  CORTEX_CHECK(fs::is_regular_file(trainer), "load_checkpoint", "'", model_path,
               "' has no trainer state beside it (expected '", trainer,
               "'); it can be served or evaluated but not resumed");
  LoadedCheckpoint out;
  out.model = nn::load_safetensors(model_path, device);
  nn::SafetensorsFile t = nn::load_safetensors(trainer, device);
  out.optimizer = std::move(t.tensors);
  auto it = t.metadata.find(kMetaTrainerState);
  CORTEX_CHECK(it != t.metadata.end(), "load_checkpoint", "'", trainer, "' has no '", kMetaTrainerState,
               "' in its metadata");
  try {
    out.trainer_state = nlohmann::json::parse(it->second);
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL("load_checkpoint", "'", trainer, "': trainer state is not JSON (", e.what(), ")");
  }
  return out;
}

std::string latest_checkpoint(const std::string& run_dir) {
  const fs::path dir = fs::path(run_dir) / "checkpoints";
  if (!fs::is_directory(dir)) return "";
  static const std::regex pattern(R"(step_(\d+)\.safetensors)");
  long long best = -1;
  std::string best_path;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::smatch m;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, m, pattern)) continue;
    const long long step = std::stoll(m[1].str());
    if (step > best && fs::is_regular_file(trainer_path_for(entry.path().string()))) {
      best = step;
      best_path = entry.path().string();
    }
  }
  return best_path;
}

}  // namespace cortex::train
