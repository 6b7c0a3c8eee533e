#include "train/trainer_config.h"

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "engine/error.h"

namespace cortex::train {
namespace {

constexpr const char* kOp = "config";

std::string kind_name(KeyKind k) {
  switch (k) {
    case KeyKind::integer: return "an integer";
    case KeyKind::real: return "a number";
    case KeyKind::text: return "text";
    case KeyKind::boolean: return "true or false";
  }
  return "?";
}

bool parse_int(const std::string& s, int64_t& out) {
  const char* b = s.data();
  const char* e = b + s.size();
  auto [p, ec] = std::from_chars(b, e, out);
  return ec == std::errc() && p == e;
}

bool parse_real(const std::string& s, double& out) {
  if (s.empty()) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return errno == 0 && end == s.c_str() + s.size() && std::isfinite(out);
}

bool parse_bool(const std::string& s, bool& out) {
  if (s == "true" || s == "yes" || s == "on" || s == "1") return out = true, true;
  if (s == "false" || s == "no" || s == "off" || s == "0") return out = false, true;
  return false;
}

// Levenshtein distance, for suggesting the key a typo meant.
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string unknown_key_message(const std::string& path, const std::string& origin) {
  std::ostringstream os;
  os << "unknown key '" << path << "'";
  if (!origin.empty()) os << " in " << origin;
  const auto similar = similar_config_keys(path);
  if (!similar.empty()) {
    os << "; did you mean";
    for (size_t i = 0; i < similar.size(); ++i) os << (i ? ", " : " ") << "'" << similar[i] << "'";
    os << "?";
  }
  os << " (`cortex-train --print-config` lists the trainer keys; model keys are overridden as model.<key>)";
  return os.str();
}

const ConfigKey* find_key(const std::string& path) {
  for (const auto& k : trainer_config_schema())
    if (k.path == path) return &k;
  return nullptr;
}

bool is_section(const std::string& prefix) {
  for (const auto& k : trainer_config_schema())
    if (k.path.rfind(prefix + ".", 0) == 0) return true;
  return false;
}

// Checks `value` against the key and returns its canonical text.
std::string checked_value(const ConfigKey& key, const std::string& value) {
  auto bad = [&](const std::string& why) {
    CORTEX_FAIL(kOp, "bad value for '", key.path, "': '", value, "' ", why, " (", key.help, ")");
  };
  switch (key.kind) {
    case KeyKind::integer: {
      int64_t v = 0;
      if (!parse_int(value, v)) bad("is not an integer");
      if (static_cast<double>(v) < key.min || static_cast<double>(v) > key.max) {
        std::ostringstream os;
        os << "is outside [" << key.min << ", " << key.max << "]";
        bad(os.str());
      }
      return std::to_string(v);
    }
    case KeyKind::real: {
      double v = 0;
      if (!parse_real(value, v)) bad("is not a finite number");
      if (v < key.min || v > key.max) {
        std::ostringstream os;
        os << "is outside [" << key.min << ", " << key.max << "]";
        bad(os.str());
      }
      return value;
    }
    case KeyKind::boolean: {
      bool v = false;
      if (!parse_bool(value, v)) bad("is not true or false");
      return v ? "true" : "false";
    }
    case KeyKind::text: {
      if (!key.choices.empty() && std::find(key.choices.begin(), key.choices.end(), value) == key.choices.end()) {
        std::string list;
        for (const auto& c : key.choices) list += (list.empty() ? "" : ", ") + c;
        bad("is not one of: " + list);
      }
      return value;
    }
  }
  return value;
}

// Model configs are flat (configs/*.yaml), so a model key is one name.
void set_model_key(YAML::Node& model, const std::string& name, const std::string& value) {
  CORTEX_CHECK(!name.empty() && name.find('.') == std::string::npos, kOp, "model key '", name,
               "' must be a single name (model configs are flat: model.dim=128)");
  model[name] = YAML::Load(value);
}

}  // namespace

const std::vector<ConfigKey>& trainer_config_schema() {
  static const std::vector<ConfigKey> schema = {
      ConfigKey{"run.name", KeyKind::text, "", "run folder name under run.dir; empty: the config file's name"},
      ConfigKey{"run.dir", KeyKind::text, "runs", "folder holding run folders"},
      ConfigKey{"run.resume", KeyKind::text, "", "checkpoint to resume from, or 'latest' for the run folder's newest; "
                                        "empty: start fresh"},
      ConfigKey{"seed", KeyKind::integer, "0", "seed of initialisation, shuffling, masking and dropout", {}, 0, 9.0e15},
      ConfigKey{"device", KeyKind::text, "cpu", "cpu, cuda or cuda:N"},
      ConfigKey{"dtype", KeyKind::text, "f32", "f32, or bf16 for mixed precision with f32 master weights", {"f32", "bf16"}},
      ConfigKey{"data", KeyKind::text, "synthetic", "synthetic, mc_maze_small, or the path of an NWB file"},
      ConfigKey{"data_dir", KeyKind::text, "", "folder of the MC_Maze_Small tensor export; empty: $CORTEX_DATA_DIR, "
                                               "then shared/data/mc_maze_small beside the repository"},
      ConfigKey{"synthetic.units", KeyKind::integer, "107", "units of the synthetic recording", {}, 1, 1e6},
      ConfigKey{"synthetic.trials", KeyKind::integer, "100", "labelled trials of the synthetic recording", {}, 5, 1e6},
      ConfigKey{"synthetic.seed", KeyKind::integer, "1", "seed of the synthetic recording", {}, 0, 9.0e15},
      ConfigKey{"train.steps", KeyKind::integer, "1000", "fine-tuning steps (velocity MSE on labelled trials)", {}, 0, 1e12},
      ConfigKey{"train.batch_size", KeyKind::integer, "16", "samples per step", {}, 1, 1e9},
      ConfigKey{"train.protocol", KeyKind::text, "noncausal", "what a sample predicts: noncausal (every bin of the window) or "
                                                     "causal (bins from spikes at or before them)", {"causal", "noncausal"}},
      ConfigKey{"train.fold", KeyKind::integer, "0", "held-out fold scored during training (trial i in fold i mod 5); "
                                           "-1 trains on every labelled trial", {}, -1, 4},
      ConfigKey{"train.spike_dropout", KeyKind::real, "0", "fine-tuning augmentation: each input spike is dropped "
                                                          "with this probability (binomial thinning)", {}, 0.0, 0.9},
      ConfigKey{"train.crop_min_bins", KeyKind::integer, "0", "fine-tuning augmentation for whole-trial (non-causal) "
                                                             "Cortex: each sample is a random run of at least this many "
                                                             "bins of its trial; 0: whole trials", {}, 0, 1e6},
      ConfigKey{"train.window_jitter_ms", KeyKind::real, "0", "fine-tuning augmentation for whole-trial (non-causal) "
                                                                "Cortex: the window start moves by a random shift of up "
                                                                "to this many ms, the trial kept inside; 0: fixed", {}, 0.0, 1e6},
      ConfigKey{"train.centred_windows", KeyKind::boolean, "false", "non-causal Cortex: one sample per (trial, bin t), "
                                                                   "the window centred on bin t, one query at t "
                                                                   "(training and prediction); false: whole trials", {}, 0,
       0},
      ConfigKey{"train.eval_every", KeyKind::integer, "100", "steps between evaluations (0: only at the end)", {}, 0, 1e12},
      ConfigKey{"train.checkpoint_every", KeyKind::integer, "500", "steps between checkpoints (0: only at the end)", {}, 0,
       1e12},
      ConfigKey{"train.log_every", KeyKind::integer, "10", "steps between metrics lines", {}, 1, 1e12},
      ConfigKey{"pretrain.steps", KeyKind::integer, "0", "self-supervised masked-spike steps before fine-tuning", {}, 0, 1e12},
      ConfigKey{"pretrain.batch_size", KeyKind::integer, "0", "samples per pre-training step (whole trials, each "
                                                             "with its masked cells); 0: train.batch_size", {}, 0, 1e9},
      ConfigKey{"pretrain.mask_ratio", KeyKind::real, "0.25", "fraction of bins whose spikes are masked", {}, 0.01, 0.99},
      ConfigKey{"optim.lr", KeyKind::real, "0.001", "peak learning rate", {}, 0.0, 10.0},
      ConfigKey{"optim.min_lr_ratio", KeyKind::real, "0.1", "final rate as a fraction of the peak", {}, 0.0, 1.0},
      ConfigKey{"optim.warmup_steps", KeyKind::integer, "100", "linear warmup steps of each phase", {}, 0, 1e12},
      ConfigKey{"optim.weight_decay", KeyKind::real, "0.05", "AdamW decoupled weight decay", {}, 0.0, 10.0},
      ConfigKey{"optim.beta1", KeyKind::real, "0.9", "AdamW beta1", {}, 0.0, 0.999999},
      ConfigKey{"optim.beta2", KeyKind::real, "0.999", "AdamW beta2", {}, 0.0, 0.999999999},
      ConfigKey{"optim.eps", KeyKind::real, "1e-8", "AdamW epsilon", {}, 1e-30, 1.0},
      ConfigKey{"optim.grad_clip", KeyKind::real, "1.0", "global gradient-norm limit (0: no clipping)", {}, 0.0, 1e12},
      ConfigKey{"optim.ema_decay", KeyKind::real, "0",
                "average the weights over the steps with this decay (e.g. 0.99) and evaluate and finish with the "
                "average (0: off)",
                {}, 0.0, 0.999999},
      ConfigKey{"predict.smooth_ms", KeyKind::real, "0",
                "Gaussian smoothing (sigma, ms) of each trial's decoded velocity before it is scored: symmetric "
                "non-causally, past bins only causally; 0: the raw per-bin predictions",
                {}, 0.0, 1e4},
  };
  return schema;
}

std::vector<std::string> similar_config_keys(const std::string& path) {
  std::vector<std::pair<size_t, std::string>> scored;
  for (const auto& k : trainer_config_schema()) {
    const size_t d = edit_distance(path, k.path);
    const std::string tail = k.path.substr(k.path.rfind('.') + 1);
    const bool same_leaf = path.size() >= tail.size() && path.compare(path.size() - tail.size(), tail.size(), tail) == 0;
    if (d <= std::max<size_t>(2, path.size() / 4) || same_leaf) scored.emplace_back(same_leaf ? 0 : d, k.path);
  }
  std::sort(scored.begin(), scored.end());
  std::vector<std::string> out;
  for (size_t i = 0; i < scored.size() && i < 3; ++i) out.push_back(scored[i].second);
  return out;
}

TrainerConfig::TrainerConfig() : model_(YAML::NodeType::Map) {
  for (const auto& k : trainer_config_schema()) values_[k.path] = k.default_value;
}

TrainerConfig TrainerConfig::from_file(const std::string& path) {
  CORTEX_CHECK(std::filesystem::is_regular_file(path), kOp, "config file '", path, "' does not exist");
  std::ifstream in(path);
  CORTEX_CHECK(in.good(), kOp, "cannot read config file '", path, "'");
  std::stringstream text;
  text << in.rdbuf();
  TrainerConfig config = from_yaml(text.str(), path);
  config.source_ = path;
  if (config.get_text("run.name").empty())
    config.values_["run.name"] = std::filesystem::path(path).stem().string();
  return config;
}

TrainerConfig TrainerConfig::from_yaml(const std::string& text, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    CORTEX_FAIL(kOp, origin, " is not valid YAML: ", e.what());
  }
  TrainerConfig config;
  if (root.IsNull()) return config;
  CORTEX_CHECK(root.IsMap(), kOp, origin, " must be a YAML mapping of keys to values");
  config.apply_node(root, "", origin);
  return config;
}

void TrainerConfig::apply_node(const YAML::Node& node, const std::string& prefix, const std::string& origin) {
  for (const auto& item : node) {
    const std::string name = item.first.as<std::string>();
    const std::string path = prefix.empty() ? name : prefix + "." + name;
    // Top-level keys that are not the trainer's describe the model (the flat layout of
    // configs/*.yaml); the model config parser checks them.
    if (prefix.empty() && find_key(path) == nullptr && !is_section(path)) {
      model_[name] = YAML::Clone(item.second);
      continue;
    }
    if (item.second.IsMap()) {
      CORTEX_CHECK(is_section(path), kOp, unknown_key_message(path, origin));
      apply_node(item.second, path, origin);
      continue;
    }
    CORTEX_CHECK(!is_section(path), kOp, "'", path, "' in ", origin, " is a section and needs keys below it");
    const ConfigKey* key = find_key(path);
    CORTEX_CHECK(key != nullptr, kOp, unknown_key_message(path, origin));
    CORTEX_CHECK(item.second.IsScalar() || item.second.IsNull(), kOp, "'", path, "' in ", origin,
                 " must be a single value, not a list");
    set(path, item.second.IsNull() ? "" : item.second.Scalar());
  }
}

void TrainerConfig::apply_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  CORTEX_CHECK(eq != std::string::npos && eq > 0, kOp, "override '", assignment,
               "' is not of the form key=value (e.g. train.steps=200)");
  const std::string path = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  if (path == "model" || path.rfind("model.", 0) == 0) {
    // "model=cortex" sets the family; "model.dim=128" one of its fields.
    try {
      set_model_key(model_, path == "model" ? "model" : path.substr(6), value);
    } catch (const YAML::Exception& e) {
      CORTEX_FAIL(kOp, "bad value for '", path, "': '", value, "' (", e.what(), ")");
    }
    return;
  }
  set(path, value);
}

void TrainerConfig::set(const std::string& path, const std::string& value) {
  const ConfigKey* key = find_key(path);
  CORTEX_CHECK(key != nullptr, kOp, unknown_key_message(path, ""));
  values_[path] = checked_value(*key, value);
}

const ConfigKey& TrainerConfig::key(const std::string& path, KeyKind kind) const {
  const ConfigKey* k = find_key(path);
  CORTEX_CHECK(k != nullptr, kOp, "no trainer key '", path, "'");
  CORTEX_CHECK(k->kind == kind, kOp, "'", path, "' is ", kind_name(k->kind), ", not ", kind_name(kind));
  return *k;
}

int64_t TrainerConfig::get_int(const std::string& path) const {
  key(path, KeyKind::integer);
  int64_t v = 0;
  parse_int(values_.at(path), v);
  return v;
}

double TrainerConfig::get_real(const std::string& path) const {
  key(path, KeyKind::real);
  double v = 0;
  parse_real(values_.at(path), v);
  return v;
}

const std::string& TrainerConfig::get_text(const std::string& path) const {
  key(path, KeyKind::text);
  return values_.at(path);
}

bool TrainerConfig::get_bool(const std::string& path) const {
  key(path, KeyKind::boolean);
  bool v = false;
  parse_bool(values_.at(path), v);
  return v;
}

std::string TrainerConfig::model_yaml() const {
  YAML::Emitter out;
  out << model_;
  return std::string(out.c_str()) + "\n";
}

std::string TrainerConfig::to_yaml() const {
  YAML::Node root(YAML::NodeType::Map);
  for (const auto& k : trainer_config_schema()) {
    const std::string& v = values_.at(k.path);
    std::string rest = k.path;
    // Walk/create the sections of a dotted path; yaml-cpp nodes are handles, so assigning
    // through the chain writes into root.
    std::vector<std::string> parts;
    for (size_t dot; (dot = rest.find('.')) != std::string::npos; rest = rest.substr(dot + 1))
      parts.push_back(rest.substr(0, dot));
    parts.push_back(rest);
    YAML::Node cur = root;
    for (size_t i = 0; i + 1 < parts.size(); ++i) {
      if (!cur[parts[i]]) cur[parts[i]] = YAML::Node(YAML::NodeType::Map);
      cur.reset(cur[parts[i]]);
    }
    if (k.kind == KeyKind::text)
      cur[parts.back()] = v;
    else
      cur[parts.back()] = YAML::Load(v);
  }
  for (const auto& item : model_) root[item.first.as<std::string>()] = item.second;
  YAML::Emitter out;
  out << root;
  return std::string(out.c_str()) + "\n";
}

}  // namespace cortex::train
