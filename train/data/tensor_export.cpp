#include "train/data/tensor_export.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <limits>

#include "engine/error.h"
#include "train/data/h5.h"

namespace cortex::data {

std::map<std::string, FloatArray> read_tensor_export(const std::string& file) {
  auto guard = h5::lock();
  try {
    h5::Handle f = h5::open_file(file, false);
    std::map<std::string, FloatArray> arrays;
    for (const auto& name : h5::children(f.get(), "/")) {
      const std::string path = "/" + name;
      if (!h5::is_dataset(f.get(), path)) continue;
      FloatArray a;
      h5::DatasetInfo info;
      a.values = h5::read_floats(f.get(), path, &info);
      a.shape = info.shape;
      arrays.emplace(name, std::move(a));
    }
    return arrays;
  } catch (const Error& e) {
    throw Error("read_tensor_export " + file + ": " + e.what());
  }
}

SampleSet export_to_samples(const std::map<std::string, FloatArray>& arrays, const std::string& prefix) {
  const char* op = "export_to_samples";
  const std::string heldin_name = prefix + "_spikes_heldin";
  const auto heldin = arrays.find(heldin_name);
  CORTEX_CHECK(heldin != arrays.end(), op, "dataset /", heldin_name, " missing; expected [trials, bins, units]");
  const auto& shape = heldin->second.shape;
  CORTEX_CHECK(shape.size() == 3, op, "/", heldin_name, " must be 3-D [trials, bins, units], has rank ", shape.size());
  const int64_t trials = shape[0], bins = shape[1];

  // Every optional stream must agree on trials and bins.
  auto companion = [&](const std::string& name) -> const FloatArray* {
    const auto it = arrays.find(name);
    if (it == arrays.end()) return nullptr;
    const auto& s = it->second.shape;
    CORTEX_CHECK(s.size() == 3 && s[0] == trials && s[1] == bins, op, "/", name, " must be [", trials, ", ", bins,
                 ", k] like /", heldin_name);
    return &it->second;
  };
  const FloatArray* heldout = companion(prefix + "_spikes_heldout");
  const FloatArray* behavior = companion(prefix + "_behavior");

  SampleSet set;
  set.bins = bins;
  set.bin_s = kExportBinS;
  for (int64_t u = 0; u < shape[2]; ++u) set.heldin_ids.push_back(u);
  set.heldin = heldin->second.values;
  if (heldout) {
    for (int64_t u = 0; u < heldout->shape[2]; ++u) set.heldout_ids.push_back(shape[2] + u);
    set.heldout = heldout->values;
  }
  if (behavior) {
    set.behavior_name = prefix + "_behavior";
    set.behavior_dims = behavior->shape[2];
    set.behavior = behavior->values;
  }
  set.t_start.assign(static_cast<size_t>(trials), std::numeric_limits<double>::quiet_NaN());
  for (int64_t i = 0; i < trials; ++i) set.trial.push_back(i);
  set.validate();
  return set;
}

namespace {
namespace fs = std::filesystem;

bool holds_export(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "mc_maze_small_train.h5", ec) && fs::is_regular_file(dir / "mc_maze_small_val.h5", ec);
}

std::optional<std::string> beside_root(const fs::path& root) {
  for (const fs::path& candidate : {root / ".." / "shared" / "data" / "mc_maze_small",
                                    root / "shared" / "data" / "mc_maze_small"}) {
    if (holds_export(candidate)) return fs::weakly_canonical(candidate).string();
  }
  return std::nullopt;
}
}  // namespace

std::optional<std::string> find_mc_maze_small() {
  if (const char* env = std::getenv("CORTEX_DATA_DIR"); env && *env) {
    for (const fs::path& candidate : {fs::path(env), fs::path(env) / "mc_maze_small"}) {
      if (holds_export(candidate)) return fs::weakly_canonical(candidate).string();
    }
  }
  if (const char* src = std::getenv("CORTEX_SOURCE_DIR"); src && *src) {
    if (auto found = beside_root(src)) return found;
  }
  std::error_code ec;
  fs::path dir = fs::current_path(ec);
  if (ec) return std::nullopt;
  for (int depth = 0; depth < 8 && !dir.empty(); ++depth) {
    if (auto found = beside_root(dir)) return found;
    if (dir == dir.parent_path()) break;
    dir = dir.parent_path();
  }
  return std::nullopt;
}

SampleSet load_mc_maze_small(const std::string& dir, const std::string& split) {
  CORTEX_CHECK(split == "train" || split == "eval", "load_mc_maze_small", "split must be \"train\" or \"eval\", got \"",
               split, "\"");
  const std::string file = (fs::path(dir) / (split == "train" ? "mc_maze_small_train.h5" : "mc_maze_small_val.h5")).string();
  return export_to_samples(read_tensor_export(file), split);
}

}  // namespace cortex::data
