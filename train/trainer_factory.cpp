#include "train/trainer_factory.h"

#include <yaml-cpp/yaml.h>

#include "engine/device.h"
#include "engine/error.h"
#include "train/trainer_cortex_task.h"
#include "train/trainer_sequence_task.h"
#include "train/trainer_wiener_task.h"

namespace cortex::train {

nn::ModelConfig resolve_model_config(const TrainerConfig& config, const DecodingData& data, Protocol protocol) {
  CORTEX_CHECK(config.model().IsMap() && config.model()["model"], "config",
               "no model given: pass --config configs/<model>.yaml (e.g. configs/cortex-xs.yaml) or set model=<family> "
               "with its keys");
  const std::string origin = config.source_path().empty() ? std::string("the model keys") : config.source_path();
  nn::ModelConfig m = nn::parse_model_config(config.model_yaml(), origin);
  m.apply_protocol(protocol == Protocol::causal);
  // The baselines read binned input channels: one per held-in unit of this data.
  m.gru.units = data.units();
  m.transformer.units = data.units();
  m.wiener.units = data.units();
  m.gru.validate();
  m.transformer.validate();
  m.wiener.validate();
  return m;
}

std::string model_config_yaml(const nn::ModelConfig& m) {
  YAML::Emitter out;
  out << YAML::BeginMap << YAML::Key << "model" << YAML::Value << nn::model_kind_name(m.kind);
  auto kv = [&](const char* k, const auto& v) { out << YAML::Key << k << YAML::Value << v; };
  switch (m.kind) {
    case nn::ModelKind::cortex: {
      const auto& c = m.cortex;
      kv("name", c.name); kv("dim", c.dim); kv("depth", c.depth); kv("heads", c.heads); kv("latents", c.latents);
      kv("ffn_mult", c.ffn_mult); kv("unit_vocab", c.unit_vocab); kv("max_count", c.max_count);
      kv("time_bin_embedding", c.time_bin_embedding); kv("dropout", c.dropout); kv("drop_path", c.drop_path);
      kv("window_ms", c.window_ms);
      kv("bin_ms", c.bin_ms); kv("outputs", c.outputs); kv("rotary_min_period_ms", c.rotary_min_period_ms);
      kv("rotary_max_period_ms", c.rotary_max_period_ms);
      break;
    }
    case nn::ModelKind::gru: {
      const auto& g = m.gru;
      kv("name", g.name); kv("units", g.units); kv("hidden_causal", m.gru_hidden_causal);
      kv("hidden_bidirectional", m.gru_hidden_bidirectional); kv("layers", g.layers); kv("dropout", g.dropout);
      kv("bin_ms", g.bin_ms); kv("outputs", g.outputs);
      break;
    }
    case nn::ModelKind::transformer: {
      const auto& t = m.transformer;
      kv("name", t.name); kv("units", t.units); kv("dim", t.dim); kv("depth", t.depth); kv("heads", t.heads);
      kv("ffn_mult", t.ffn_mult); kv("max_bins", t.max_bins); kv("bin_ms", t.bin_ms); kv("dropout", t.dropout);
      kv("causal", t.causal); kv("outputs", t.outputs);
      break;
    }
    case nn::ModelKind::wiener: {
      const auto& w = m.wiener;
      kv("name", w.name); kv("units", w.units); kv("lags", w.lags); kv("bin_ms", w.bin_ms); kv("folds", w.folds);
      out << YAML::Key << "lambdas" << YAML::Value << YAML::Flow << w.lambdas;
      kv("outputs", w.outputs);
      break;
    }
  }
  out << YAML::EndMap;
  return std::string(out.c_str()) + "\n";
}

namespace {

std::unique_ptr<DecodingTask> make_family_task(const nn::ModelConfig& model, const FoldData& fold, Protocol protocol,
                                               const TaskSettings& s) {
  CORTEX_CHECK((s.crop_min_bins == 0 && s.window_jitter_ms == 0) ||
                   (model.kind == nn::ModelKind::cortex && protocol == Protocol::noncausal),
               "config", "train.crop_min_bins and train.window_jitter_ms apply to whole-trial (non-causal) Cortex "
               "training; this is a ", protocol_name(protocol), " ", nn::model_kind_name(model.kind), " run");
  CORTEX_CHECK(!s.centred_windows || (model.kind == nn::ModelKind::cortex && protocol == Protocol::noncausal), "config",
               "train.centred_windows applies to non-causal Cortex runs; this is a ", protocol_name(protocol), " ",
               nn::model_kind_name(model.kind), " run");
  CORTEX_CHECK(!s.centred_windows || (s.crop_min_bins == 0 && s.window_jitter_ms == 0), "config",
               "train.centred_windows replaces whole-trial samples, so train.crop_min_bins and train.window_jitter_ms "
               "(whole-trial augmentations) must be 0 with it");
  switch (model.kind) {
    case nn::ModelKind::cortex: {
      CortexTaskOptions o;
      o.seed = s.seed;
      o.device = s.device;
      o.dtype = s.dtype;
      o.mask_ratio = s.mask_ratio;
      o.spike_dropout = s.spike_dropout;
      o.crop_min_bins = s.crop_min_bins;
      o.window_jitter_ms = s.window_jitter_ms;
      o.centred_windows = s.centred_windows;
      o.model_yaml = model_config_yaml(model);
      return std::make_unique<CortexTask>(model.cortex, fold, protocol, o);
    }
    case nn::ModelKind::gru:
    case nn::ModelKind::transformer: {
      SequenceTaskOptions o;
      o.seed = s.seed;
      o.device = s.device;
      o.dtype = s.dtype;
      o.model_yaml = model_config_yaml(model);
      o.spike_dropout = s.spike_dropout;
      return std::make_unique<SequenceTask>(model, fold, protocol, o);
    }
    case nn::ModelKind::wiener:
      return std::make_unique<WienerTask>(model, fold, protocol, model_config_yaml(model));
  }
  CORTEX_FAIL("make_task", "unknown model family");
}

}  // namespace

std::unique_ptr<DecodingTask> make_task(const nn::ModelConfig& model, const FoldData& fold, Protocol protocol,
                                        const TaskSettings& s) {
  std::unique_ptr<DecodingTask> task = make_family_task(model, fold, protocol, s);
  task->set_output_smoothing(s.smooth_ms);
  return task;
}

TaskSettings task_settings(const TrainerConfig& config) {
  TaskSettings s;
  s.seed = static_cast<uint64_t>(config.get_int("seed"));
  s.device = parse_device(config.get_text("device"));
  if (s.device.is_cuda()) {
    const int n = device_count(DeviceType::CUDA);
    CORTEX_CHECK(s.device.index < n, "config", "device=", config.get_text("device"), " but ",
                 n == 0 ? std::string("no CUDA device is available (is this build without CUDA, or the machine "
                                      "without a GPU?)")
                        : "only " + std::to_string(n) + " CUDA device(s) exist");
  }
  s.dtype = dtype_from_name(config.get_text("dtype"));
  s.mask_ratio = config.get_real("pretrain.mask_ratio");
  s.spike_dropout = config.get_real("train.spike_dropout");
  s.crop_min_bins = config.get_int("train.crop_min_bins");
  s.window_jitter_ms = config.get_real("train.window_jitter_ms");
  s.centred_windows = config.get_bool("train.centred_windows");
  s.smooth_ms = config.get_real("predict.smooth_ms");
  return s;
}

}  // namespace cortex::train
