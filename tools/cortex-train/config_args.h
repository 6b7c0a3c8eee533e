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

// The items of a comma-separated flag value ("0,2,4"), empty ones included ("0,,4", "0,"),
// so each caller refuses them with its own message.
std::vector<std::string> split_list(const std::string& list);

// Notes on settings that are valid but will not do what they seem to, one line each to `out`:
// an optim.ema_decay that a phase is too short to reach.
void print_config_notes(const train::TrainerConfig& config, std::FILE* out);

}  // namespace cortex::tools
