#include "tools/cortex-train/config_args.h"

#include <algorithm>
#include <filesystem>

#include "engine/error.h"
#include "nn/model_config.h"
#include "train/weight_average.h"

namespace cortex::tools {

train::TrainerConfig parse_config_args(const std::vector<std::string>& args, const std::vector<std::string>& flags,
                                       std::map<std::string, std::string>* flag_values) {
  std::string config_file;
  std::vector<std::string> overrides;
  auto is_flag = [&](const std::string& f) { return std::find(flags.begin(), flags.end(), f) != flags.end(); };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    std::string name = a, value;
    bool has_inline = false;
    if (a.rfind("--", 0) == 0) {
      const size_t eq = a.find('=');
      if (eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        has_inline = true;
      }
      if (name != "--config" && !is_flag(name))
        CORTEX_FAIL("cortex-train", "unknown option '", name, "' (see cortex-train --help)");
      if (!has_inline) {
        CORTEX_CHECK(i + 1 < args.size(), "cortex-train", "option ", name, " needs a value");
        value = args[++i];
      }
      if (name == "--config") config_file = value;
      else (*flag_values)[name] = value;
    } else if (a.find('=') != std::string::npos) {
      overrides.push_back(a);
    } else {
      CORTEX_FAIL("cortex-train", "unexpected argument '", a, "' (overrides are key=value, e.g. train.steps=200)");
    }
  }
  // A bare name ("cortex-xs") is looked up like the model configs are.
  if (!config_file.empty() && !std::filesystem::exists(config_file)) {
    const std::string found = nn::find_config_file(config_file);
    if (!found.empty()) config_file = found;
  }
  train::TrainerConfig config = config_file.empty() ? train::TrainerConfig() : train::TrainerConfig::from_file(config_file);
  for (const auto& o : overrides) config.apply_override(o);
  return config;
}

std::vector<std::string> split_list(const std::string& list) {
  std::vector<std::string> items;
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    items.push_back(list.substr(pos, comma - pos));
    pos = comma + 1;
  }
  return items;
}

void print_config_notes(const train::TrainerConfig& config, std::FILE* out) {
  const double decay = config.get_real("optim.ema_decay");
  if (decay <= 0) return;
  // Only the last phase's average is kept (each phase starts its own).
  const char* last_phase = config.get_int("train.steps") > 0 ? "train.steps" : "pretrain.steps";
  const std::string note = train::ramp_shortfall(decay, config.get_int(last_phase));
  if (!note.empty()) std::fprintf(out, "note: %s (%s)\n", note.c_str(), last_phase);
}

}  // namespace cortex::tools
