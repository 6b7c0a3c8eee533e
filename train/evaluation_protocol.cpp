#include "train/evaluation_protocol.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "engine/error.h"
#include "train/trainer.h"
#include "train/trainer_factory.h"

namespace cortex::train {
namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

nlohmann::json r2_stats_json(const R2Stats& s) {
  return {{"rows", s.rows}, {"sum", s.sum}, {"sum_sq", s.sum_sq}, {"ss_res", s.ss_res}};
}

R2Stats r2_stats_from_json(const nlohmann::json& j) {
  R2Stats s;
  try {
    s.rows = j.at("rows").get<int64_t>();
    s.sum = j.at("sum").get<std::vector<double>>();
    s.sum_sq = j.at("sum_sq").get<std::vector<double>>();
    s.ss_res = j.at("ss_res").get<std::vector<double>>();
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL("r2_stats_from_json", "malformed R^2 statistics ", j.dump(), " (", e.what(), ")");
  }
  CORTEX_CHECK(s.sum.size() == s.sum_sq.size() && s.sum.size() == s.ss_res.size() && s.rows >= 0,
               "r2_stats_from_json", "inconsistent R^2 statistics ", j.dump());
  return s;
}

nlohmann::json ProtocolResult::to_json() const {
  nlohmann::json stats = nlohmann::json::array();
  for (const auto& s : stats_per_seed) stats.push_back(r2_stats_json(s));
  return {{"stats_per_seed", stats},
          {"folds_run", folds_run},
          {"folds", folds},
          {"model", model},
          {"family", family},
          {"parameters", parameters},
          {"protocol", protocol_name(protocol)},
          {"r2_mean", r2.mean},
          {"r2_std", r2.std},
          {"seeds", r2.n},
          {"seed_values", seeds},
          {"r2_per_seed", r2_per_seed},
          {"r2_components_per_seed", r2_components_per_seed},
          {"train_seconds", train_seconds},
          {"total_seconds", total_seconds},
          {"device", device},
          {"dtype", dtype},
          {"pretrain_steps", pretrain_steps},
          {"finetune_steps", finetune_steps},
          {"batch_size", batch_size},
          {"pretrain_batch_size", pretrain_batch_size},
          {"crop_min_bins", crop_min_bins},
          {"window_jitter_ms", window_jitter_ms},
          {"centred_windows", centred_windows},
          {"lr", lr},
          {"weight_decay", weight_decay},
          {"spike_dropout", spike_dropout},
          {"ema_decay", ema_decay},
          {"drop_path", drop_path},
          {"smooth_ms", smooth_ms},
          {"data", data}};
}

ProtocolResult run_protocol(const TrainerConfig& config, const DecodingData& data, const ProtocolOptions& options) {
  CORTEX_CHECK(!options.seeds.empty(), "run_protocol", "need at least one seed");
  const auto t_start = std::chrono::steady_clock::now();
  const nn::ModelConfig model = resolve_model_config(config, data, options.protocol);
  TaskSettings settings = task_settings(config);
  ProtocolResult result;
  result.family = nn::model_kind_name(model.kind);
  result.protocol = options.protocol;
  result.device = settings.device.str();
  result.dtype = dtype_name(settings.dtype);
  result.data = data.description;
  const bool trained = model.kind != nn::ModelKind::wiener;
  result.pretrain_steps = trained ? config.get_int("pretrain.steps") : 0;
  result.finetune_steps = trained ? config.get_int("train.steps") : 0;
  result.batch_size = trained ? config.get_int("train.batch_size") : 0;
  const TrainerOptions trainer_options = TrainerOptions::from_config(config);
  if (result.pretrain_steps > 0) result.pretrain_batch_size = trainer_options.batch_of(Phase::pretrain);
  result.crop_min_bins = trained ? config.get_int("train.crop_min_bins") : 0;
  result.window_jitter_ms = trained ? config.get_real("train.window_jitter_ms") : 0.0;
  result.centred_windows = trained && config.get_bool("train.centred_windows");
  result.lr = trained ? config.get_real("optim.lr") : 0.0;
  result.weight_decay = trained ? config.get_real("optim.weight_decay") : 0.0;
  result.spike_dropout = trained ? config.get_real("train.spike_dropout") : 0.0;
  result.ema_decay = trained ? config.get_real("optim.ema_decay") : 0.0;
  result.drop_path = model.kind == nn::ModelKind::cortex ? model.cortex.drop_path : 0.0;
  result.smooth_ms = settings.smooth_ms;
  result.model = !options.label.empty() ? options.label
                 : config.model()["name"] ? config.model()["name"].as<std::string>()
                                          : result.family;

  result.folds = options.folds;
  for (int64_t fold = 0; fold < options.folds; ++fold)
    if (options.only_folds.empty() ||
        std::find(options.only_folds.begin(), options.only_folds.end(), fold) != options.only_folds.end())
      result.folds_run.push_back(fold);
  for (int64_t fold : options.only_folds)
    CORTEX_CHECK(fold >= 0 && fold < options.folds, "run_protocol", "fold ", fold, " is outside [0, ", options.folds,
                 ")");
  for (uint64_t seed : options.seeds) {
    settings.seed = seed;
    R2Accumulator pooled(data.outputs());
    for (int64_t fold : result.folds_run) {
      const FoldData f = make_fold(data, fold, options.folds);
      auto task = make_task(model, f, options.protocol, settings);
      if (result.parameters == 0) result.parameters = task->model().num_parameters();
      TrainerOptions o = trainer_options;
      o.seed = seed;
      o.resume.clear();
      o.evaluate = false;  // scored below, once
      o.run_dir = options.run_root.empty()
                      ? std::string()
                      : (std::filesystem::path(options.run_root) /
                         (result.model + "-" + protocol_name(options.protocol) + "-seed" + std::to_string(seed) +
                          "-fold" + std::to_string(fold)))
                            .string();
      if (o.run_dir.empty()) o.checkpoint_every = 0;
      const auto t_fit = std::chrono::steady_clock::now();
      TrainResult tr;
      if (task->closed_form()) {
        task->fit();
      } else {
        Trainer trainer(*task, o);
        tr = trainer.run();
      }
      result.train_seconds += seconds_since(t_fit);
      task->model().eval();
      const size_t before = static_cast<size_t>(pooled.rows());
      std::vector<float> raw = task->score_held_out(pooled);
      if (options.on_predictions)
        options.on_predictions({result.model, options.protocol, result.smooth_ms, seed, fold, f.test_trials,
                                data.labelled.bins, data.outputs(), std::move(raw)});
      if (options.log) {
        char what[96];
        if (task->closed_form())
          std::snprintf(what, sizeof what, "fitted in closed form");
        else
          std::snprintf(what, sizeof what, "%zu steps, last loss %.4f", tr.steps.size(),
                        tr.steps.empty() ? 0.0 : tr.steps.back().loss);
        std::fprintf(options.log, "%s %s seed %llu fold %lld: %s, %.1f s, %lld test bins\n", result.model.c_str(),
                     protocol_name(options.protocol), static_cast<unsigned long long>(seed),
                     static_cast<long long>(fold), what, seconds_since(t_fit),
                     static_cast<long long>(pooled.rows() - static_cast<int64_t>(before)));
        std::fflush(options.log);
      }
    }
    const R2Score s = pooled.score();
    result.seeds.push_back(seed);
    result.r2_per_seed.push_back(s.mean);
    result.r2_components_per_seed.push_back(s.per_component);
    result.stats_per_seed.push_back(pooled.stats());
    if (options.log) {
      std::fprintf(options.log, "%s %s seed %llu: R^2 %.4f (x %.4f, y %.4f)\n", result.model.c_str(),
                   protocol_name(options.protocol), static_cast<unsigned long long>(seed), s.mean,
                   s.per_component[0], s.per_component.size() > 1 ? s.per_component[1] : 0.0);
      std::fflush(options.log);
    }
  }
  result.r2 = mean_std(result.r2_per_seed);
  result.total_seconds = seconds_since(t_start);
  return result;
}

}  // namespace cortex::train
