// The synthetic motor-cortex generator: determinism per seed, plausible rates and reach
// kinematics, the NWB file it writes, and a decodable-but-not-trivial velocity signal.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>

#include "tests/train/test_data_util.h"
#include "train/data/nwb_reader.h"
#include "train/data/summary.h"
#include "train/data/synth.h"
#include "train/data/windows.h"

using namespace cortex;
using namespace cortex::data;

TEST_CASE("synth: deterministic per seed, different across seeds") {
  SynthConfig c;
  c.units = 12;
  c.trials = 6;
  c.seed = 5;
  const Recording a = synthesize(c), b = synthesize(c);
  test::require_same(a, b);
  c.seed = 6;
  const Recording other = synthesize(c);
  CHECK(other.units[0].spike_times != a.units[0].spike_times);
  CHECK(other.trials[0].move_onset_time != a.trials[0].move_onset_time);
  CHECK_THROWS_AS(synthesize(SynthConfig{0, 5}), Error);
}

TEST_CASE("synth: written as NWB and read back unchanged, summarised by inspect") {
  test::TempDir dir;
  SynthConfig c;
  c.units = 20;
  c.trials = 8;
  c.seed = 3;
  const std::string file = dir.file("synth.nwb");
  write_synthetic_nwb(file, c);
  const Recording rec = read_nwb(file);
  test::require_same(rec, synthesize(c));
  CHECK(rec.heldout_count() == 5);
  {
    auto guard = h5::lock();
    h5::Handle f = h5::open_file(file, false);
    CHECK(h5::read_string_attribute(f.get(), "/", "neurodata_type").value() == "NWBFile");
    CHECK(h5::dataset_info(f.get(), "/units/spike_times_index").type_size == 2);  // < 65536 spikes: u16
    CHECK(h5::dataset_info(f.get(), "/units/heldout").type_class == H5T_ENUM);
  }
  const FileSummary s = summarize_file(file);
  CHECK(s.format == FileFormat::nwb);
  CHECK(s.units == 20);
  CHECK(s.trials == 8);
  CHECK(s.spikes == rec.spike_count());
  CHECK(s.behavior == std::vector<std::string>{"hand_vel"});
  CHECK(s.t_start == doctest::Approx(rec.t_start()));
  CHECK(summary_json(s).find("\"units\":20") != std::string::npos);
}

TEST_CASE("synth: plausible rates, trial structure and bell-shaped reaches") {
  SynthConfig c;
  c.units = 48;
  c.trials = 40;
  c.seed = 9;
  const Recording r = synthesize(c);
  const double duration = r.t_stop() - r.t_start();
  double mean_rate = 0;
  for (const auto& u : r.units) {
    const double rate = static_cast<double>(u.spike_times.size()) / duration;
    CAPTURE(u.id);
    CHECK(rate > 0.5);
    CHECK(rate < 60);
    CHECK(std::is_sorted(u.spike_times.begin(), u.spike_times.end()));
    mean_rate += rate / static_cast<double>(r.units.size());
  }
  CHECK(mean_rate > 4);
  CHECK(mean_rate < 20);
  CHECK(r.heldout_count() == 12);

  const BehaviorSeries* vel = r.find_behavior("hand_vel");
  REQUIRE(vel);
  CHECK(vel->channels == 2);
  CHECK(vel->timestamps[1] - vel->timestamps[0] == doctest::Approx(0.001));
  auto speed_at = [&](size_t i) { return std::hypot(vel->data[2 * i], vel->data[2 * i + 1]); };
  for (size_t k = 0; k < r.trials.size(); ++k) {
    const Trial& t = r.trials[k];
    CAPTURE(k);
    CHECK(t.start_time < t.move_onset_time);
    CHECK(t.move_onset_time < t.stop_time);
    if (k > 0) CHECK(t.start_time - r.trials[k - 1].stop_time > 0.5);  // gap with the return movement
    const auto onset = static_cast<size_t>(std::llround(t.move_onset_time * 1000));
    double before = 0, peak = 0;
    size_t peak_at = onset;
    for (size_t i = onset - 100; i < onset; ++i) before = std::max(before, speed_at(i));
    for (size_t i = onset; i < onset + 600; ++i)
      if (speed_at(i) > peak) peak = speed_at(i), peak_at = i;
    CHECK(before < 60);  // still before the go: only tremor
    CHECK(peak > 250);
    CHECK(peak < 1000);
    const double peak_delay = static_cast<double>(peak_at - onset) / 1000;
    CHECK(peak_delay > 0.12);  // minimum-jerk: the peak near the middle of a 350-550 ms reach
    CHECK(peak_delay < 0.35);
  }
}

TEST_CASE("synth: a Wiener filter decodes velocity 100 ms ahead with realistic R^2") {
  SynthConfig c;
  c.units = 96;
  c.trials = 120;
  c.seed = 11;
  const Recording r = synthesize(c);
  // 100 ms of spike history in 25 ms chunks, fitted on 96 trials, scored on 24.
  const SampleSet ahead = trial_aligned_samples(r);
  const double r2 = test::wiener_r2(ahead, 96, 5, 4, 20);
  MESSAGE("Wiener filter R^2 on synthetic hand velocity (lag 100 ms): ", r2);
  CHECK(r2 > 0.45);
  CHECK(r2 < 0.75);
  // Neurons lead movement: the same spikes say much less about the velocity 100 ms before.
  SampleOptions behind;
  behind.behavior_lag_s = -0.1;
  const double r2_behind = test::wiener_r2(trial_aligned_samples(r, {}, behind), 96, 5, 4, 20);
  MESSAGE("... and of the velocity 100 ms earlier: ", r2_behind);
  CHECK(r2_behind < r2 - 0.2);
}
