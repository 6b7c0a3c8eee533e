#include <cstdio>
#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "tools/cortex-train/commands.h"
#include "tools/cortex-train/config_args.h"
#include "train/checkpoint_io.h"
#include "train/trainer.h"
#include "train/trainer_factory.h"
#include "train/trainer_progress.h"

namespace cortex::tools {
namespace fs = std::filesystem;

int train_command(const Args& args) {
  train::TrainerConfig config = parse_config_args(args, {}, nullptr);
  if (config.get_text("run.name").empty()) {
    const auto& family = config.model()["model"];
    config.set("run.name", family ? family.as<std::string>() : std::string("run"));
  }
  const train::TaskSettings settings = train::task_settings(config);
  const train::Protocol protocol = train::protocol_from_name(config.get_text("train.protocol"));
  const train::DecodingData data = train::load_decoding_data(config);
  const nn::ModelConfig model = train::resolve_model_config(config, data, protocol);
  const train::FoldData fold = train::make_fold(data, config.get_int("train.fold"));
  auto task = train::make_task(model, fold, protocol, settings);

  train::TrainerOptions options = train::TrainerOptions::from_config(config);
  options.master_weights = true;
  options.progress = stderr;
  options.progress_interactive = train::stream_is_terminal(stderr);
  fs::create_directories(options.run_dir);
  {
    std::ofstream out(fs::path(options.run_dir) / "config.yaml");
    out << "# cortex-train configuration as resolved (defaults, file, overrides)\n" << config.to_yaml();
  }
  std::fprintf(stderr, "data: %s\nmodel: %s (%lld parameters) on %s, %s, %s protocol, fold %lld\nrun folder: %s\n",
               data.description.c_str(), nn::model_kind_name(model.kind),
               static_cast<long long>(task->model().num_parameters()), settings.device.str().c_str(),
               dtype_name(settings.dtype), train::protocol_name(protocol),
               static_cast<long long>(config.get_int("train.fold")), options.run_dir.c_str());
  print_config_notes(config, stderr);
  if (task->closed_form()) {
    // The Wiener filter: one closed-form fit instead of gradient steps.
    task->fit();
    task->model().eval();
    const nlohmann::json scores = task->evaluate(train::Phase::finetune);
    const std::string path = (fs::path(options.run_dir) / "model.safetensors").string();
    nn::Metadata meta = task->checkpoint_metadata();
    meta[train::kMetaFormat] = train::kCheckpointFormat;
    nn::save_safetensors(path, task->model().state_dict(), meta);
    if (!scores.empty()) std::printf("evaluation: %s\n", scores.dump().c_str());
    std::printf("fitted in closed form\nmodel: %s\n", path.c_str());
    return 0;
  }
  train::Trainer trainer(*task, options);
  if (trainer.step() > 0) std::fprintf(stderr, "resumed at step %lld\n", static_cast<long long>(trainer.step()));
  const train::TrainResult result = trainer.run();
  std::printf("trained %zu steps in %.1f s\n", result.steps.size(), result.seconds);
  if (!result.last_eval.empty()) std::printf("evaluation: %s\n", result.last_eval.dump().c_str());
  if (!result.final_checkpoint.empty())
    std::printf("checkpoint: %s\nserve it with: cortex-serve --model %s\n", result.final_checkpoint.c_str(),
                result.final_checkpoint.c_str());
  return 0;
}

int print_config_command(const Args& args) {
  const train::TrainerConfig config = parse_config_args(args, {}, nullptr);
  std::printf("%s", config.to_yaml().c_str());
  std::printf("\n# trainer keys:\n");
  for (const auto& k : train::trainer_config_schema())
    std::printf("#   %-22s %s (default '%s')\n", k.path.c_str(), k.help.c_str(), k.default_value.c_str());
  return 0;
}

}  // namespace cortex::tools
