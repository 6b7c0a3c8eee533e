#pragma once
// The configuration of a cortex-train run: a YAML file plus `key=value` overrides.
// Trainer keys are dotted paths checked against a fixed schema (type, range, choices).
// Every other top-level key belongs to the model (the flat layout of configs/*.yaml, with
// the family in `model:`) and is checked by nn::parse_model_config; on the command line
// model keys are written model.<key>=value.
// Unknown keys, bad values and missing files raise a cortex::Error that says which.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

namespace cortex::train {

enum class KeyKind { integer, real, text, boolean };

struct ConfigKey {
  std::string path;          // "train.steps"
  KeyKind kind;
  std::string default_value;  // as it would be written in YAML
  std::string help = "";
  std::vector<std::string> choices = {};  // allowed values of a text key (empty: any non-empty text)
  double min = -1e300, max = 1e300;  // inclusive range of a number
};

// Every trainer key with its default, in the order config.yaml is written.
const std::vector<ConfigKey>& trainer_config_schema();

class TrainerConfig {
 public:
  // All defaults, an empty model section.
  TrainerConfig();
  // Reads a YAML file (must exist and be a mapping); its keys are applied over the defaults.
  static TrainerConfig from_file(const std::string& path);
  // The same from YAML text (`origin` names it in errors).
  static TrainerConfig from_yaml(const std::string& text, const std::string& origin);

  // "key=value": a trainer key from the schema, "model=<family>" or "model.<key>=value".
  void apply_override(const std::string& assignment);
  // Sets one value, checked against the schema.
  void set(const std::string& path, const std::string& value);

  // Typed access; the path must be a schema key of that kind.
  int64_t get_int(const std::string& path) const;
  double get_real(const std::string& path) const;
  const std::string& get_text(const std::string& path) const;
  bool get_bool(const std::string& path) const;

  // The model's keys (including `model: <family>`) and the same as YAML text.
  const YAML::Node& model() const { return model_; }
  std::string model_yaml() const;
  YAML::Node& model() { return model_; }
  // The file this came from ("" when built in code).
  const std::string& source_path() const { return source_; }

  // The complete resolved configuration as YAML (the run folder's config.yaml).
  std::string to_yaml() const;

 private:
  void apply_node(const YAML::Node& node, const std::string& prefix, const std::string& origin);
  const ConfigKey& key(const std::string& path, KeyKind kind) const;

  std::map<std::string, std::string> values_;
  YAML::Node model_;
  std::string source_;
};

// Keys in the schema that look like `path` (for "did you mean" hints).
std::vector<std::string> similar_config_keys(const std::string& path);

}  // namespace cortex::train
