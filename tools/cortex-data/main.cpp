// cortex-data: inspect NWB files and NLB tensor exports, write the synthetic session,
// download MC_Maze_Small from DANDI. See docs/data.md.
#include <algorithm>
#include <charconv>
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "download.h"
#include "engine/error.h"
#include "train/data/summary.h"
#include "train/data/synth.h"

namespace {

using namespace cortex_data;

constexpr const char* kUsage =
    "usage: cortex-data <command> [options]\n"
    "  inspect FILE [--json]                                   summarise an NWB file or an NLB tensor export\n"
    "  synth --out FILE [--units N] [--trials T] [--seed S]    write the synthetic motor-cortex session as NWB\n"
    "                                                          (defaults: 128 units, 200 trials, seed 1)\n"
    "  download mc_maze_small --to DIR                         fetch DANDI dandiset 000140 (needs network + curl)\n"
    "exit codes: 0 ok, 1 failed (bad file, I/O), 2 bad arguments, 3 no network / download refused\n";

struct UsageError {
  std::string message;
};

// Splits argv after the command into positionals and --flag [value] pairs.
struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::string> options;  // "" for switches
};

Args parse(int argc, char** argv, const std::vector<std::string>& switches, const std::vector<std::string>& valued) {
  Args a;
  for (int i = 2; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) {
      a.positional.push_back(arg);
      continue;
    }
    if (std::find(switches.begin(), switches.end(), arg) != switches.end()) {
      a.options[arg] = "";
    } else if (std::find(valued.begin(), valued.end(), arg) != valued.end()) {
      if (i + 1 >= argc) throw UsageError{arg + " needs a value"};
      a.options[arg] = argv[++i];
    } else {
      throw UsageError{"unknown option " + arg};
    }
  }
  return a;
}

int64_t parse_count(const Args& a, const std::string& flag, int64_t fallback, int64_t lo, int64_t hi) {
  const auto it = a.options.find(flag);
  if (it == a.options.end()) return fallback;
  const std::string& text = it->second;
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < lo || value > hi)
    throw UsageError{flag + " must be a whole number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                     "], got '" + text + "'"};
  return value;
}

int inspect(int argc, char** argv) {
  const Args a = parse(argc, argv, {"--json"}, {});
  if (a.positional.size() != 1) throw UsageError{"inspect takes exactly one FILE"};
  const cortex::data::FileSummary s = cortex::data::summarize_file(a.positional[0]);
  if (a.options.count("--json")) {
    std::cout << cortex::data::summary_json(s) << "\n";
    return kExitOk;
  }
  std::cout << "format:   " << (s.format == cortex::data::FileFormat::nwb ? "NWB" : "NLB tensor export") << "\n"
            << "units:    " << s.units << "\n"
            << "spikes:   " << s.spikes << "\n"
            << "trials:   " << s.trials << "\n"
            << "behavior:";
  for (const auto& b : s.behavior) std::cout << " " << b;
  std::cout << (s.behavior.empty() ? " none\n" : "\n")
            << "time:     " << s.t_start << " .. " << s.t_stop << " s"
            << (s.format == cortex::data::FileFormat::nwb ? "\n" : " (relative to movement onset)\n");
  return kExitOk;
}

int synth(int argc, char** argv) {
  const Args a = parse(argc, argv, {}, {"--out", "--units", "--trials", "--seed"});
  if (!a.positional.empty()) throw UsageError{"synth takes no positional arguments, got '" + a.positional[0] + "'"};
  const auto out = a.options.find("--out");
  if (out == a.options.end() || out->second.empty()) throw UsageError{"synth needs --out FILE"};
  cortex::data::SynthConfig c;
  c.units = parse_count(a, "--units", c.units, 1, 100000);
  c.trials = parse_count(a, "--trials", c.trials, 1, 100000);
  c.seed = static_cast<uint64_t>(parse_count(a, "--seed", static_cast<int64_t>(c.seed), 0, INT64_MAX));
  cortex::data::write_synthetic_nwb(out->second, c);
  const cortex::data::FileSummary s = cortex::data::summarize_file(out->second);
  std::cout << "wrote " << out->second << ": " << s.units << " units, " << s.spikes << " spikes, " << s.trials
            << " trials, " << s.t_stop - s.t_start << " s\n";
  return kExitOk;
}

int download_command(int argc, char** argv) {
  const Args a = parse(argc, argv, {}, {"--to"});
  if (a.positional.size() != 1) throw UsageError{"download takes one data set name (mc_maze_small)"};
  const auto to = a.options.find("--to");
  if (to == a.options.end() || to->second.empty()) throw UsageError{"download needs --to DIR"};
  return download(a.positional[0], to->second);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << kUsage;
    return kExitUsage;
  }
  const std::string command = argv[1];
  if (command == "--help" || command == "-h" || command == "help") {
    std::cout << kUsage;
    return kExitOk;
  }
  try {
    if (command == "inspect") return inspect(argc, argv);
    if (command == "synth") return synth(argc, argv);
    if (command == "download") return download_command(argc, argv);
    throw UsageError{"unknown command '" + command + "'"};
  } catch (const UsageError& e) {
    std::cerr << "cortex-data: " << e.message << "\n" << kUsage;
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "cortex-data " << command << ": " << e.what() << "\n";
    return kExitFailed;
  }
}
