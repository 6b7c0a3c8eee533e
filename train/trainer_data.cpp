#include "train/trainer_data.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/error.h"
#include "train/data/nwb_reader.h"
#include "train/data/synth.h"
#include "train/data/tensor_export.h"
#include "train/data/windows.h"
#include "train/folds.h"

namespace cortex::train {
namespace fs = std::filesystem;
namespace {

constexpr const char* kOp = "data";

std::string describe(const std::string& name, const DecodingData& d, const std::string& from) {
  std::ostringstream os;
  os << name << " (" << d.labelled.samples() << " labelled";
  if (d.unlabelled.samples() > 0) os << " + " << d.unlabelled.samples() << " unlabelled";
  os << " trials of " << d.labelled.bins << " bins, " << d.units() << " held-in units)";
  if (!from.empty()) os << " from " << from;
  return os.str();
}

void check_labelled(const DecodingData& d, const std::string& source) {
  CORTEX_CHECK(d.labelled.samples() >= 5, kOp, source, " has ", d.labelled.samples(),
               " labelled trials; the 5-fold protocol needs at least 5");
  CORTEX_CHECK(d.labelled.behavior_dims >= 1, kOp, source, " has no behaviour to decode");
  CORTEX_CHECK(d.labelled.heldin_units() >= 1, kOp, source, " has no held-in units");
}

}  // namespace

DecodingData load_decoding_data(const TrainerConfig& config) {
  const std::string& source = config.get_text("data");
  DecodingData d;
  if (source == "mc_maze_small") {
    std::string dir = config.get_text("data_dir");
    if (dir.empty()) {
      auto found = data::find_mc_maze_small();
      CORTEX_CHECK(found.has_value(), kOp,
                   "MC_Maze_Small not found: set data_dir=<folder with mc_maze_small_train.h5 and "
                   "mc_maze_small_val.h5> or $CORTEX_DATA_DIR (looked in shared/data/mc_maze_small beside the "
                   "repository); `cortex-data download mc_maze_small` fetches it, or use data=synthetic");
      dir = *found;
    }
    CORTEX_CHECK(fs::is_regular_file(fs::path(dir) / "mc_maze_small_train.h5"), kOp, "data_dir '", dir,
                 "' holds no mc_maze_small_train.h5");
    d.labelled = data::load_mc_maze_small(dir, "train");
    if (fs::is_regular_file(fs::path(dir) / "mc_maze_small_val.h5")) d.unlabelled = data::load_mc_maze_small(dir, "eval");
    d.description = describe("MC_Maze_Small", d, dir);
  } else if (source == "synthetic") {
    data::SynthConfig sc;
    sc.units = config.get_int("synthetic.units");
    sc.trials = config.get_int("synthetic.trials");
    sc.seed = static_cast<uint64_t>(config.get_int("synthetic.seed"));
    d.labelled = data::trial_aligned_samples(data::synthesize(sc));
    d.description = describe("synthetic", d, "");
  } else {
    CORTEX_CHECK(fs::is_regular_file(source), kOp, "data='", source,
                 "' is neither synthetic, mc_maze_small nor an existing NWB file");
    d.labelled = data::trial_aligned_samples(data::read_nwb(source));
    d.description = describe("NWB", d, source);
  }
  check_labelled(d, d.description);
  if (d.unlabelled.samples() > 0) {
    CORTEX_CHECK(d.unlabelled.heldin_units() == d.units() && d.unlabelled.bins == d.bins(), kOp,
                 "unlabelled trials have ", d.unlabelled.heldin_units(), " units x ", d.unlabelled.bins,
                 " bins but labelled ones have ", d.units(), " x ", d.bins());
  }
  return d;
}

OutputScaling OutputScaling::fit(const data::SampleSet& set, const std::vector<int64_t>& trials) {
  const int64_t c_n = set.behavior_dims, bins = set.bins;
  CORTEX_CHECK(c_n >= 1 && !trials.empty(), "OutputScaling::fit", "need behaviour and at least one trial");
  OutputScaling s;
  s.mean.assign(static_cast<size_t>(c_n), 0.0);
  s.std.assign(static_cast<size_t>(c_n), 0.0);
  const double n = static_cast<double>(trials.size() * static_cast<size_t>(bins));
  for (int64_t t : trials)
    for (int64_t b = 0; b < bins; ++b)
      for (int64_t c = 0; c < c_n; ++c) s.mean[c] += set.behavior[static_cast<size_t>((t * bins + b) * c_n + c)];
  for (auto& m : s.mean) m /= n;
  for (int64_t t : trials)
    for (int64_t b = 0; b < bins; ++b)
      for (int64_t c = 0; c < c_n; ++c) {
        const double v = set.behavior[static_cast<size_t>((t * bins + b) * c_n + c)] - s.mean[c];
        s.std[c] += v * v;
      }
  for (int64_t c = 0; c < c_n; ++c) {
    s.std[c] = std::sqrt(s.std[c] / n);
    CORTEX_CHECK(s.std[c] > 1e-12, "OutputScaling::fit", "behaviour component ", c, " is constant");
  }
  return s;
}

std::string OutputScaling::to_json() const { return nlohmann::json{{"mean", mean}, {"std", std}}.dump(); }

FoldData make_fold(const DecodingData& data, int64_t fold, int64_t num_folds) {
  FoldData f;
  f.data = &data;
  const int64_t n = data.labelled.samples();
  if (fold < 0) {
    for (int64_t t = 0; t < n; ++t) f.train_trials.push_back(t);
  } else {
    FoldSplit split = fold_split(n, fold, num_folds);
    f.train_trials = std::move(split.train);
    f.test_trials = std::move(split.test);
  }
  f.scaling = OutputScaling::fit(data.labelled, f.train_trials);
  return f;
}

}  // namespace cortex::train
