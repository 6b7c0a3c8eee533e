// cortex-bench: throughput of the engine's kernels, printed as markdown tables.
//   cortex-bench [--section NAME]... [--quick] [--min-seconds S] [--list]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "engine/error.h"
#include "section.h"

namespace cortex::bench {
std::vector<Section>& sections() {
  static std::vector<Section> all;
  return all;
}
}  // namespace cortex::bench

namespace {

void usage(const char* argv0) {
  std::printf(
      "usage: %s [--section NAME]... [--quick] [--min-seconds S] [--list]\n"
      "  --section NAME   run only this section (repeatable; default: all built sections)\n"
      "  --quick          smaller shapes and shorter timing (smoke test)\n"
      "  --min-seconds S  time every measurement for at least S seconds (default 0.5)\n"
      "  --list           list the sections in this build\n",
      argv0);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace cortex::bench;
  Options options;
  std::vector<std::string> wanted;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--quick") {
      options.quick = true;
      options.min_seconds = 0.1;
    } else if (arg == "--section" && i + 1 < argc) {
      wanted.push_back(argv[++i]);
    } else if (arg == "--min-seconds" && i + 1 < argc) {
      options.min_seconds = std::atof(argv[++i]);
    } else if (arg == "--list") {
      for (const auto& s : sections()) std::printf("%-8s %s\n", s.name.c_str(), s.description.c_str());
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      usage(argv[0]);
      return 0;
    } else {
      std::fprintf(stderr, "cortex-bench: unknown argument '%s'\n", arg.c_str());
      usage(argv[0]);
      return 2;
    }
  }
  for (const auto& name : wanted) {
    bool found = false;
    for (const auto& s : sections()) found = found || s.name == name;
    if (!found) {
      std::fprintf(stderr, "cortex-bench: no section '%s' in this build (see --list%s)\n", name.c_str(),
                   name == "gpu" ? "; the gpu section needs a CUDA build" : "");
      return 2;
    }
  }
  try {
    for (const auto& s : sections()) {
      if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), s.name) == wanted.end()) continue;
      std::printf("## %s: %s%s\n\n", s.name.c_str(), s.description.c_str(), options.quick ? " (quick)" : "");
      s.run(options);
    }
  } catch (const cortex::Error& e) {
    std::fprintf(stderr, "cortex-bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
