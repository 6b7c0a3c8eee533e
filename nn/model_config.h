#pragma once
// Model hyperparameters as read from configs/*.yaml: Cortex (XS/S/M) and the baselines.
// Every file names its family in `model:`; the loaders check every field and report a bad
// or missing one by file and key.
#include <cstdint>
#include <string>
#include <vector>

namespace cortex::nn {

struct CortexConfig {
  std::string name = "cortex";
  int64_t dim = 64;          // model width d
  int64_t depth = 2;         // self-attention blocks over the latents
  int64_t heads = 2;         // attention heads (dim divisible by heads)
  int64_t latents = 16;      // learned latent array length
  int64_t ffn_mult = 4;      // MLP hidden width = ffn_mult * dim
  int64_t unit_vocab = 256;  // unit ids lie in [0, unit_vocab)
  int64_t max_count = 8;     // counts above saturate to max_count
  bool time_bin_embedding = false;  // add an embedding of the event's bin within the window
  double dropout = 0.0;      // on residual branches while training
  double drop_path = 0.0;    // stochastic depth of the latent blocks: the last block's rate (0 at the first)
  double window_ms = 1000.0; // context window length
  double bin_ms = 5.0;       // bin width for the time-bin embedding and masked-spike cells
  int64_t outputs = 2;       // behaviour components (velocity x, y)
  // Rotary periods of absolute time, geometric from min to max.
  double rotary_min_period_ms = 1.0;
  double rotary_max_period_ms = 4000.0;

  int64_t head_dim() const { return dim / heads; }
  int64_t bins_per_window() const;
  // Throws cortex::Error naming the first bad field.
  void validate() const;
};

struct GRUConfig {
  std::string name = "gru";
  int64_t units = 96;          // input channels (the dataset's unit count at train time)
  int64_t hidden = 256;        // per direction
  int64_t layers = 2;
  bool bidirectional = false;  // non-causal protocol
  double dropout = 0.0;        // between layers while training
  double bin_ms = 5.0;
  int64_t outputs = 2;
  void validate() const;
};

struct TransformerConfig {
  std::string name = "transformer";
  int64_t units = 96;     // input channels per bin
  int64_t dim = 320;
  int64_t depth = 4;
  int64_t heads = 5;
  int64_t ffn_mult = 4;
  int64_t max_bins = 200; // learned positions: the longest sequence in bins
  double bin_ms = 5.0;    // one token per bin
  double dropout = 0.0;
  bool causal = false;    // causal attention mask (causal protocol)
  int64_t outputs = 2;
  void validate() const;
};

struct WienerConfig {
  std::string name = "wiener";
  int64_t units = 96;
  int64_t lags = 10;       // bins of spike history per feature block (current bin included)
  double bin_ms = 5.0;
  int64_t folds = 5;       // cross-validation folds over the training trials for lambda
  // Ridge strengths tried, relative to the mean diagonal of the Gram matrix.
  std::vector<double> lambdas{1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0};
  int64_t outputs = 2;
  void validate() const;
};

enum class ModelKind { cortex, gru, transformer, wiener };
const char* model_kind_name(ModelKind kind);

struct ModelConfig {
  ModelKind kind = ModelKind::cortex;
  std::string source;  // the file it came from
  CortexConfig cortex;
  GRUConfig gru;
  TransformerConfig transformer;
  WienerConfig wiener;
  // Sets the protocol-dependent choices: a unidirectional GRU with its causal hidden size
  // and a causal transformer mask for the causal protocol; bidirectional otherwise.
  void apply_protocol(bool causal);
  // GRU hidden size per direction for each protocol (both near the same parameter budget).
  int64_t gru_hidden_causal = 256;
  int64_t gru_hidden_bidirectional = 154;
};

// A config by path ("configs/cortex-s.yaml") or by name ("cortex-s", looked up as
// <dir>/<name>.yaml in $CORTEX_CONFIG_DIR, $CORTEX_SOURCE_DIR/configs, ./configs and the
// source tree's configs/). Throws cortex::Error listing where it looked.
ModelConfig load_model_config(const std::string& name_or_path);
// The same, requiring a Cortex config.
CortexConfig load_cortex_config(const std::string& name_or_path);
// Parses YAML text (what the loaders read); `source` names it in errors.
ModelConfig parse_model_config(const std::string& yaml_text, const std::string& source);
// Where a name resolves to (empty when nothing matches).
std::string find_config_file(const std::string& name_or_path);

// Parameters of the model a config describes (baselines with their configured `units`),
// computed from the config without building the model.
int64_t parameter_count(const ModelConfig& config);

}  // namespace cortex::nn
