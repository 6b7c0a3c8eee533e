// Trial-aligned samples and sliding windows: window placement, held-in/held-out split,
// behaviour lag, dropped windows, and the tensor batches built from them.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "tests/train/test_data_util.h"
#include "train/data/to_tensor.h"
#include "train/data/windows.h"

using namespace cortex;
using namespace cortex::data;

TEST_CASE("windows: trial-aligned samples around movement onset") {
  Recording r = test::small_recording();
  r.trials.push_back({1.85, 1.95, std::numeric_limits<double>::quiet_NaN()});
  const SampleSet s = trial_aligned_samples(r);
  s.validate();
  REQUIRE(s.samples() == 2);
  CHECK(s.dropped == 1);
  CHECK(s.bins == 140);
  CHECK(s.bin_s == 0.005);
  CHECK(s.heldin_ids == std::vector<int64_t>{10, 11});
  CHECK(s.heldout_ids == std::vector<int64_t>{12});
  CHECK(s.trial == std::vector<int64_t>{0, 1});
  CHECK(s.t_start[0] == doctest::Approx(0.15));
  CHECK(s.t_start[1] == doctest::Approx(1.05));
  CHECK(s.behavior_name == "hand_vel");
  CHECK(s.behavior_dims == 2);

  // Sample 0 covers [0.15, 0.85): unit 10 fires at 0.25 and 0.7, unit 11 at 0.6 and 0.61, unit 12 at 0.33.
  auto heldin = [&](int64_t i, int64_t b, int64_t u) { return s.heldin[static_cast<size_t>((i * 140 + b) * 2 + u)]; };
  CHECK(heldin(0, 20, 0) == 1);   // 0.25 -> bin 20
  CHECK(heldin(0, 110, 0) == 1);  // 0.70 -> bin 110
  CHECK(heldin(0, 90, 1) == 1);   // 0.60 -> bin 90
  CHECK(heldin(0, 92, 1) == 1);   // 0.61 -> bin 92
  double total_in = 0, total_out = 0;
  for (int64_t b = 0; b < 140; ++b) {
    total_in += heldin(0, b, 0) + heldin(0, b, 1);
    total_out += s.heldout[static_cast<size_t>(b)];
  }
  CHECK(total_in == 4);
  CHECK(total_out == 1);
  CHECK(s.heldout[36] == 1);  // 0.33 -> bin 36

  // Behaviour at bin b is hand_vel at the bin's time + 100 ms: bin 0 of sample 1 averages
  // samples 1.150 .. 1.154.
  double expect_x = 0;
  for (int k = 0; k < 5; ++k) expect_x += 100 * std::sin(3 * (1.150 + 0.001 * k)) / 5;
  const size_t at = static_cast<size_t>(140 * 2);
  CHECK(s.behavior[at] == doctest::Approx(expect_x).epsilon(0.02));  // tolerates a sample moving across an edge
  CHECK(s.behavior[at + 1] == doctest::Approx(-50 * 1.152).epsilon(0.005));

  SampleOptions no_lag;
  no_lag.behavior_lag_s = 0;
  const SampleSet z = trial_aligned_samples(r, {}, no_lag);
  CHECK(z.behavior[at + 1] == doctest::Approx(-50 * 1.052).epsilon(0.005));
}

TEST_CASE("windows: sliding windows over the continuous recording") {
  const Recording r = test::small_recording();  // spans [0, 2] s
  const auto windows = sliding_windows(r);
  REQUIRE(windows.size() == 29);
  CHECK(windows[1].t0 - windows[0].t0 == doctest::Approx(0.05));
  CHECK(windows.back().t0 == doctest::Approx(1.4));

  SampleOptions spikes_only;
  spikes_only.behavior = "";
  const SampleSet all = sliding_window_samples(r, {}, spikes_only);
  CHECK(all.samples() == 29);
  CHECK(all.bins == 120);
  CHECK(all.behavior_dims == 0);
  CHECK(all.behavior.empty());
  // Unit 10's spike at 1.31 s shows in each of the 12 windows starting in (0.71, 1.31].
  int seen = 0;
  for (int64_t i = 0; i < all.samples(); ++i) {
    const double t0 = all.t_start[static_cast<size_t>(i)];
    if (t0 > 1.31 || t0 + 0.6 <= 1.31) continue;
    ++seen;
    const auto bin = static_cast<int64_t>(std::floor((1.31 - t0) / 0.005 + 1e-9));
    CHECK(all.heldin[static_cast<size_t>((i * 120 + bin) * 2)] >= 1);
  }
  CHECK(seen == 12);

  // With a 100 ms behaviour lag the last two windows run past the end of hand_vel.
  const SampleSet with_behavior = sliding_window_samples(r);
  CHECK(with_behavior.samples() == 27);
  CHECK(with_behavior.dropped == 2);
  for (float v : with_behavior.behavior) REQUIRE(std::isfinite(v));

  SlidingWindows uneven;
  uneven.length_s = 0.6013;
  CHECK_THROWS_WITH_AS(sliding_window_samples(r, uneven), doctest::Contains("whole number"), Error);
  SampleOptions missing;
  missing.behavior = "cursor_pos";
  CHECK_THROWS_WITH_AS(trial_aligned_samples(r, {}, missing), doctest::Contains("hand_vel"), Error);
}

TEST_CASE("windows: batches as tensors and sample selection") {
  const SampleSet s = trial_aligned_samples(test::small_recording());
  const SampleBatch b = all_samples(s);
  CHECK(b.heldin.shape() == Shape{2, 140, 2});
  CHECK(b.heldout.shape() == Shape{2, 140, 1});
  CHECK(b.behavior.shape() == Shape{2, 140, 2});
  CHECK(b.heldin.dtype() == DType::f32);
  CHECK(b.heldin.to_vector<float>() == s.heldin);
  CHECK(b.behavior.to_vector<float>() == s.behavior);

  const SampleBatch swapped = make_batch(s, {1, 0, 1});
  CHECK(swapped.heldin.shape() == Shape{3, 140, 2});
  const auto v = swapped.heldout.to_vector<float>();
  for (size_t k = 0; k < 140; ++k) {
    CHECK(v[k] == s.heldout[140 + k]);
    CHECK(v[140 + k] == s.heldout[k]);
  }
  CHECK_THROWS_AS(make_batch(s, {2}), Error);

  SampleOptions spikes_only;
  spikes_only.behavior = "";
  Recording no_heldout = test::small_recording();
  for (auto& u : no_heldout.units) u.heldout = false;
  const SampleBatch plain = all_samples(trial_aligned_samples(no_heldout, {}, spikes_only));
  CHECK_FALSE(plain.heldout.defined());
  CHECK_FALSE(plain.behavior.defined());
  CHECK(plain.heldin.shape() == Shape{2, 140, 3});
}
