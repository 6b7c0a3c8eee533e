#pragma once
// Command-line configuration: `--config FILE` plus `key=value` overrides, and the
// `--flag value` options of the other subcommands.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "train/trainer_config.h"

namespace cortex::tools {

// Applies --config FILE (or --config=FILE) and every key=value; anything else is an error
// naming the argument, unless its flag is listed in `flags` (returned with its value).
train::TrainerConfig parse_config_args(const std::vector<std::string>& args, const std::vector<std::string>& flags,
                                       std::map<std::string, std::string>* flag_values);

// Notes on settings that are valid but will not do what they seem to, one line each to `out`:
// an optim.ema_decay that a phase is too short to reach.
void print_config_notes(const train::TrainerConfig& config, std::FILE* out);

}  // namespace cortex::tools
