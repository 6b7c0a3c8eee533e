#include "nn/model_config.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "engine/error.h"
#include "nn/baselines/gru.h"
#include "nn/baselines/transformer.h"
#include "nn/baselines/wiener_filter.h"
#include "nn/cortex/cortex.h"

namespace cortex::nn {
namespace {

constexpr const char* kOp = "model config";

// One YAML key bound to a field: how to read it from a scalar node.
using Setter = std::function<void(const YAML::Node&)>;

template <typename T>
Setter bind(T& field) {
  return [&field](const YAML::Node& node) { field = node.as<T>(); };
}

void read_fields(const YAML::Node& root, const std::map<std::string, Setter>& fields, const std::string& source) {
  for (const auto& item : root) {
    const std::string key = item.first.as<std::string>();
    if (key == "model") continue;
    auto it = fields.find(key);
    if (it == fields.end()) {
      std::string known;
      for (const auto& [name, unused] : fields) known += (known.empty() ? "" : ", ") + name;
      CORTEX_FAIL(kOp, source, ": unknown key '", key, "' (known keys: ", known, ")");
    }
    try {
      it->second(item.second);
    } catch (const YAML::Exception& e) {
      CORTEX_FAIL(kOp, source, ": key '", key, "' has a value of the wrong type (", e.what(), ")");
    }
  }
}

void check_positive(int64_t v, const char* field, const std::string& name) {
  CORTEX_CHECK(v > 0, kOp, name, ": ", field, " must be positive, got ", v);
}
void check_dropout(double p, const std::string& name) {
  CORTEX_CHECK(p >= 0.0 && p < 1.0, kOp, name, ": dropout must lie in [0, 1), got ", p);
}

std::filesystem::path source_tree_configs() {
  // nn/model_config.cpp -> <repo>/configs
  return std::filesystem::path(__FILE__).parent_path().parent_path() / "configs";
}

}  // namespace

int64_t CortexConfig::bins_per_window() const { return static_cast<int64_t>(std::llround(window_ms / bin_ms)); }

void CortexConfig::validate() const {
  check_positive(dim, "dim", name);
  check_positive(depth, "depth", name);
  check_positive(heads, "heads", name);
  check_positive(latents, "latents", name);
  check_positive(ffn_mult, "ffn_mult", name);
  check_positive(unit_vocab, "unit_vocab", name);
  check_positive(max_count, "max_count", name);
  check_positive(outputs, "outputs", name);
  CORTEX_CHECK(dim % heads == 0, kOp, name, ": dim ", dim, " is not divisible by heads ", heads);
  CORTEX_CHECK(head_dim() % 4 == 0, kOp, name, ": head dim ", head_dim(),
               " must be a multiple of 4 (half of it is rotated in pairs)");
  check_dropout(dropout, name);
  CORTEX_CHECK(drop_path >= 0.0 && drop_path < 1.0, kOp, name, ": drop_path must lie in [0, 1), got ", drop_path);
  CORTEX_CHECK(window_ms > 0 && bin_ms > 0, kOp, name, ": window_ms and bin_ms must be positive, got ", window_ms,
               " and ", bin_ms);
  CORTEX_CHECK(std::abs(window_ms / bin_ms - static_cast<double>(bins_per_window())) < 1e-9, kOp, name,
               ": window_ms ", window_ms, " is not a whole number of bins of ", bin_ms, " ms");
  CORTEX_CHECK(rotary_min_period_ms > 0 && rotary_max_period_ms >= rotary_min_period_ms, kOp, name,
               ": rotary periods must satisfy 0 < min <= max, got ", rotary_min_period_ms, " and ",
               rotary_max_period_ms);
}

void GRUConfig::validate() const {
  check_positive(units, "units", name);
  check_positive(hidden, "hidden", name);
  check_positive(layers, "layers", name);
  check_positive(outputs, "outputs", name);
  check_dropout(dropout, name);
  CORTEX_CHECK(bin_ms > 0, kOp, name, ": bin_ms must be positive, got ", bin_ms);
}

void TransformerConfig::validate() const {
  check_positive(units, "units", name);
  check_positive(dim, "dim", name);
  check_positive(depth, "depth", name);
  check_positive(heads, "heads", name);
  check_positive(ffn_mult, "ffn_mult", name);
  check_positive(max_bins, "max_bins", name);
  check_positive(outputs, "outputs", name);
  CORTEX_CHECK(dim % heads == 0, kOp, name, ": dim ", dim, " is not divisible by heads ", heads);
  check_dropout(dropout, name);
  CORTEX_CHECK(bin_ms > 0, kOp, name, ": bin_ms must be positive, got ", bin_ms);
}

void WienerConfig::validate() const {
  check_positive(units, "units", name);
  check_positive(lags, "lags", name);
  check_positive(outputs, "outputs", name);
  CORTEX_CHECK(folds >= 2, kOp, name, ": folds must be at least 2, got ", folds);
  CORTEX_CHECK(!lambdas.empty(), kOp, name, ": lambdas must list at least one ridge strength");
  for (double l : lambdas) CORTEX_CHECK(l > 0, kOp, name, ": every lambda must be positive, got ", l);
  CORTEX_CHECK(bin_ms > 0, kOp, name, ": bin_ms must be positive, got ", bin_ms);
}

const char* model_kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::cortex: return "cortex";
    case ModelKind::gru: return "gru";
    case ModelKind::transformer: return "transformer";
    case ModelKind::wiener: return "wiener";
  }
  return "?";
}

void ModelConfig::apply_protocol(bool causal) {
  gru.bidirectional = !causal;
  gru.hidden = causal ? gru_hidden_causal : gru_hidden_bidirectional;
  transformer.causal = causal;
}

ModelConfig parse_model_config(const std::string& yaml_text, const std::string& source) {
  YAML::Node root;
  try {
    root = YAML::Load(yaml_text);
  } catch (const YAML::Exception& e) {
    CORTEX_FAIL(kOp, source, ": not valid YAML (", e.what(), ")");
  }
  CORTEX_CHECK(root.IsMap(), kOp, source, ": expected a mapping of keys to values");
  CORTEX_CHECK(root["model"], kOp, source, ": missing key 'model' (cortex, gru, transformer or wiener)");
  const std::string kind = root["model"].as<std::string>();

  ModelConfig config;
  config.source = source;
  if (kind == "cortex") {
    config.kind = ModelKind::cortex;
    CortexConfig& c = config.cortex;
    read_fields(root,
                {{"name", bind(c.name)},
                 {"dim", bind(c.dim)},
                 {"depth", bind(c.depth)},
                 {"heads", bind(c.heads)},
                 {"latents", bind(c.latents)},
                 {"ffn_mult", bind(c.ffn_mult)},
                 {"unit_vocab", bind(c.unit_vocab)},
                 {"max_count", bind(c.max_count)},
                 {"time_bin_embedding", bind(c.time_bin_embedding)},
                 {"dropout", bind(c.dropout)},
                 {"drop_path", bind(c.drop_path)},
                 {"window_ms", bind(c.window_ms)},
                 {"bin_ms", bind(c.bin_ms)},
                 {"outputs", bind(c.outputs)},
                 {"rotary_min_period_ms", bind(c.rotary_min_period_ms)},
                 {"rotary_max_period_ms", bind(c.rotary_max_period_ms)}},
                source);
    c.validate();
  } else if (kind == "gru") {
    config.kind = ModelKind::gru;
    GRUConfig& g = config.gru;
    read_fields(root,
                {{"name", bind(g.name)},
                 {"units", bind(g.units)},
                 {"hidden_causal", bind(config.gru_hidden_causal)},
                 {"hidden_bidirectional", bind(config.gru_hidden_bidirectional)},
                 {"layers", bind(g.layers)},
                 {"dropout", bind(g.dropout)},
                 {"bin_ms", bind(g.bin_ms)},
                 {"outputs", bind(g.outputs)}},
                source);
    config.apply_protocol(true);
    g.validate();
    check_positive(config.gru_hidden_bidirectional, "hidden_bidirectional", g.name);
  } else if (kind == "transformer") {
    config.kind = ModelKind::transformer;
    TransformerConfig& t = config.transformer;
    read_fields(root,
                {{"name", bind(t.name)},
                 {"units", bind(t.units)},
                 {"dim", bind(t.dim)},
                 {"depth", bind(t.depth)},
                 {"heads", bind(t.heads)},
                 {"ffn_mult", bind(t.ffn_mult)},
                 {"max_bins", bind(t.max_bins)},
                 {"bin_ms", bind(t.bin_ms)},
                 {"dropout", bind(t.dropout)},
                 {"causal", bind(t.causal)},
                 {"outputs", bind(t.outputs)}},
                source);
    t.validate();
  } else if (kind == "wiener") {
    config.kind = ModelKind::wiener;
    WienerConfig& w = config.wiener;
    read_fields(root,
                {{"name", bind(w.name)},
                 {"units", bind(w.units)},
                 {"lags", bind(w.lags)},
                 {"bin_ms", bind(w.bin_ms)},
                 {"folds", bind(w.folds)},
                 {"lambdas", bind(w.lambdas)},
                 {"outputs", bind(w.outputs)}},
                source);
    w.validate();
  } else {
    CORTEX_FAIL(kOp, source, ": unknown model '", kind, "' (expected cortex, gru, transformer or wiener)");
  }
  return config;
}

std::string find_config_file(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(name_or_path)) return name_or_path;
  if (name_or_path.find('/') != std::string::npos) return {};
  std::vector<fs::path> dirs;
  if (const char* d = std::getenv("CORTEX_CONFIG_DIR")) dirs.emplace_back(d);
  if (const char* d = std::getenv("CORTEX_SOURCE_DIR")) dirs.push_back(fs::path(d) / "configs");
  dirs.emplace_back("configs");
  dirs.push_back(source_tree_configs());
  for (const auto& dir : dirs) {
    const fs::path p = dir / (name_or_path + ".yaml");
    if (fs::is_regular_file(p)) return p.string();
  }
  return {};
}

ModelConfig load_model_config(const std::string& name_or_path) {
  const std::string path = find_config_file(name_or_path);
  CORTEX_CHECK(!path.empty(), kOp, "no config '", name_or_path,
               "': not a file, and no <name>.yaml in $CORTEX_CONFIG_DIR, $CORTEX_SOURCE_DIR/configs, ./configs or ",
               source_tree_configs().string());
  std::ifstream in(path);
  CORTEX_CHECK(in.good(), kOp, "cannot read ", path);
  std::stringstream text;
  text << in.rdbuf();
  return parse_model_config(text.str(), path);
}

CortexConfig load_cortex_config(const std::string& name_or_path) {
  ModelConfig config = load_model_config(name_or_path);
  CORTEX_CHECK(config.kind == ModelKind::cortex, kOp, config.source, ": expected a cortex model, found '",
               model_kind_name(config.kind), "'");
  return config.cortex;
}

int64_t parameter_count(const ModelConfig& config) {
  switch (config.kind) {
    case ModelKind::cortex: return cortex_parameter_count(config.cortex);
    case ModelKind::gru: return gru_parameter_count(config.gru);
    case ModelKind::transformer: return transformer_parameter_count(config.transformer);
    case ModelKind::wiener: return wiener_parameter_count(config.wiener);
  }
  CORTEX_FAIL(kOp, "unknown model kind");
}

}  // namespace cortex::nn
