#include <cstdio>

#include "engine/error.h"
#include "nn/baselines/gru.h"
#include "nn/baselines/transformer.h"
#include "nn/baselines/wiener_filter.h"
#include "nn/cortex/cortex.h"
#include "nn/model_config.h"
#include "tools/cortex-train/commands.h"

namespace cortex::tools {
namespace {

constexpr int64_t kMcMazeUnits = 107;  // held-in units of MC_Maze_Small

void row(const std::string& name, int64_t as_configured, int64_t mc_maze, const std::string& path) {
  std::printf("%-26s %14lld %14lld  %s\n", name.c_str(), static_cast<long long>(as_configured),
              static_cast<long long>(mc_maze), path.c_str());
}

}  // namespace

int print_params_command(const Args& args) {
  CORTEX_CHECK(args.empty(), "cortex-train", "--print-params takes no arguments");
  std::printf("%-26s %14s %14s  %s\n", "model", "parameters", "107 units", "config");
  for (const char* name : {"cortex-xs", "cortex-s", "cortex-m"}) {
    const nn::CortexConfig c = nn::load_cortex_config(name);
    const int64_t n = nn::cortex_parameter_count(c);  // independent of the unit count up to unit_vocab
    row(c.name, n, n, nn::find_config_file(name));
  }
  // The baselines' input width is the data's unit count: shown as configured and for MC_Maze_Small.
  for (const bool causal : {true, false}) {
    nn::ModelConfig g = nn::load_model_config("gru");
    g.apply_protocol(causal);
    nn::GRUConfig at = g.gru;
    at.units = kMcMazeUnits;
    row(g.gru.name + (causal ? " (causal)" : " (bidirectional)"), nn::gru_parameter_count(g.gru),
        nn::gru_parameter_count(at), nn::find_config_file("gru"));
  }
  {
    nn::ModelConfig t = nn::load_model_config("transformer");
    nn::TransformerConfig at = t.transformer;
    at.units = kMcMazeUnits;
    row(t.transformer.name, nn::transformer_parameter_count(t.transformer), nn::transformer_parameter_count(at),
        nn::find_config_file("transformer"));
  }
  {
    nn::ModelConfig w = nn::load_model_config("wiener");
    nn::WienerConfig at = w.wiener;
    at.units = kMcMazeUnits;
    row(w.wiener.name + " (causal)", nn::wiener_parameter_count(w.wiener), nn::wiener_parameter_count(at),
        nn::find_config_file("wiener"));
  }
  return 0;
}

}  // namespace cortex::tools
