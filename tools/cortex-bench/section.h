#pragma once
// cortex-bench is a set of named sections ("cpu", "gpu", ...). Each section lives in its own
// file and registers itself with CORTEX_BENCH_SECTION; a file that needs CUDA wraps its body
// in #ifdef CORTEX_WITH_CUDA, so the section simply does not exist in a CPU-only build.
#include <functional>
#include <string>
#include <vector>

#include "engine/macros.h"

namespace cortex::bench {

struct Options {
  bool quick = false;        // smaller shapes and shorter timing, for smoke runs
  double min_seconds = 0.5;  // time each measurement at least this long
};

struct Section {
  std::string name;
  std::string description;
  std::function<void(const Options&)> run;  // prints markdown to stdout
};

std::vector<Section>& sections();

struct SectionRegistration {
  SectionRegistration(std::string name, std::string description, std::function<void(const Options&)> run) {
    sections().push_back({std::move(name), std::move(description), std::move(run)});
  }
};

}  // namespace cortex::bench

#define CORTEX_BENCH_SECTION(name, description, fn) \
  static const ::cortex::bench::SectionRegistration CORTEX_CONCAT(cortex_bench_section_, __LINE__)(name, description, fn)
