#pragma once
// `cortex-data download`: fetches a data set's NWB files from the DANDI archive by running
// curl (HTTPS, DANDI REST API). Without a network it fails within ~15 s with a plain message.
#include <string>

namespace cortex_data {

// Exit codes shared by the commands.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;     // bad file, I/O error
constexpr int kExitUsage = 2;      // bad arguments
constexpr int kExitNoNetwork = 3;  // no network, no curl, or the archive refused

// dataset: "mc_maze_small" (DANDI dandiset 000140). Returns an exit code; messages go to
// stdout (progress) and stderr (failures).
int download(const std::string& dataset, const std::string& dir);

}  // namespace cortex_data
