// The benchmark's HDF5 tensor export: the real MC_Maze_Small files when they are present
// (skipped with a message otherwise), and shape checks on hand-built arrays.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/error.h"
#include "train/data/summary.h"
#include "train/data/tensor_export.h"

using namespace cortex;
using namespace cortex::data;

namespace {
std::optional<std::string> shared_data() {
  const auto dir = find_mc_maze_small();
  if (!dir)
    MESSAGE("skipped: MC_Maze_Small export not found (set CORTEX_DATA_DIR or place ../shared/data/mc_maze_small "
            "beside the repository)");
  return dir;
}
}  // namespace

TEST_CASE("tensor export: MC_Maze_Small shapes, whole-number counts, behaviour range") {
  const auto dir = shared_data();
  if (!dir) return;
  const auto train = read_tensor_export(*dir + "/mc_maze_small_train.h5");
  const std::map<std::string, std::vector<int64_t>> train_shapes{
      {"train_spikes_heldin", {75, 140, 107}},       {"train_spikes_heldout", {75, 140, 35}},
      {"train_behavior", {75, 140, 2}},              {"train_spikes_heldin_forward", {75, 40, 107}},
      {"train_spikes_heldout_forward", {75, 40, 35}}};
  for (const auto& [name, shape] : train_shapes) {
    CAPTURE(name);
    REQUIRE(train.count(name) == 1);
    CHECK(train.at(name).shape == shape);
  }
  const auto val = read_tensor_export(*dir + "/mc_maze_small_val.h5");
  CHECK(val.at("eval_spikes_heldin").shape == std::vector<int64_t>{25, 140, 107});
  CHECK(val.at("eval_spikes_heldout").shape == std::vector<int64_t>{25, 140, 35});
  CHECK(val.count("eval_behavior") == 0);

  for (const char* name : {"train_spikes_heldin", "train_spikes_heldout"}) {
    CAPTURE(name);
    float max_count = 0;
    double total = 0;
    int64_t not_counts = 0;
    for (float v : train.at(name).values) {
      not_counts += !(v >= 0 && v == std::round(v));
      max_count = std::max(max_count, v);
      total += v;
    }
    CHECK(not_counts == 0);
    CHECK(max_count >= 1);
    CHECK(max_count <= 4);
    if (std::string(name) == "train_spikes_heldin") {
      const double rate = total / (75.0 * 140 * 107 * 0.005);
      CHECK(rate > 3.5);  // README: held-in mean rate about 4.4 Hz
      CHECK(rate < 5.5);
    }
  }
  float lo = 0, hi = 0;
  int64_t non_finite = 0;
  for (float v : train.at("train_behavior").values) {
    non_finite += !std::isfinite(v);
    lo = std::min(lo, v), hi = std::max(hi, v);
  }
  CHECK(non_finite == 0);
  CHECK(lo < -500);  // README: about -930 .. +1100 mm/s
  CHECK(lo > -2000);
  CHECK(hi > 500);
  CHECK(hi < 2000);
}

TEST_CASE("tensor export: MC_Maze_Small as sample sets and its summary") {
  const auto dir = shared_data();
  if (!dir) return;
  const SampleSet train = load_mc_maze_small(*dir, "train");
  CHECK(train.samples() == 75);
  CHECK(train.bins == 140);
  CHECK(train.heldin_units() == 107);
  CHECK(train.heldout_units() == 35);
  CHECK(train.behavior_dims == 2);
  CHECK(train.heldout_ids.front() == 107);
  const SampleSet eval = load_mc_maze_small(*dir, "eval");
  CHECK(eval.samples() == 25);
  CHECK(eval.behavior_dims == 0);

  const FileSummary s = summarize_file(*dir + "/mc_maze_small_train.h5");
  CHECK(s.format == FileFormat::tensor_export);
  CHECK(s.units == 142);
  CHECK(s.trials == 75);
  double total = 0;
  for (float v : train.heldin) total += v;
  for (float v : train.heldout) total += v;
  CHECK(s.spikes == static_cast<int64_t>(total));
  CHECK(s.behavior == std::vector<std::string>{"train_behavior"});
  CHECK(s.t_start == doctest::Approx(-0.25));
  CHECK(s.t_stop == doctest::Approx(0.45));
  CHECK_THROWS_AS(load_mc_maze_small(*dir, "test"), Error);
}

TEST_CASE("tensor export: shapes that disagree are refused with the dataset's name") {
  std::map<std::string, FloatArray> arrays;
  arrays["train_spikes_heldin"] = {{2, 3, 4}, std::vector<float>(24, 1.0f)};
  arrays["train_behavior"] = {{2, 5, 2}, std::vector<float>(20, 0.0f)};
  CHECK_THROWS_WITH_AS(export_to_samples(arrays, "train"), doctest::Contains("/train_behavior must be [2, 3, k]"),
                       Error);
  arrays["train_behavior"] = {{2, 3, 2}, std::vector<float>(12, 0.0f)};
  const SampleSet s = export_to_samples(arrays, "train");
  CHECK(s.samples() == 2);
  CHECK(s.heldout_units() == 0);
  CHECK_THROWS_WITH_AS(export_to_samples(arrays, "eval"), doctest::Contains("/eval_spikes_heldin missing"), Error);
  arrays["eval_spikes_heldin"] = {{6, 4}, std::vector<float>(24, 1.0f)};
  CHECK_THROWS_WITH_AS(export_to_samples(arrays, "eval"), doctest::Contains("must be 3-D"), Error);
}
