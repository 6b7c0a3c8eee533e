// Binning, behaviour resampling and event extraction on hand-made spikes, checked against
// hand-computed answers and a brute-force float64 reference.
#include <doctest/doctest.h>

#include <cmath>
#include <random>

#include "tests/train/test_data_util.h"
#include "train/data/binning.h"
#include "train/data/events.h"
#include "train/data/to_tensor.h"

using namespace cortex;
using namespace cortex::data;

namespace {
Recording one_unit(std::vector<double> times) {
  Recording r;
  r.units.push_back({0, false, std::move(times)});
  return r;
}
}  // namespace

TEST_CASE("binning: hand-made spikes, edges go to the later bin") {
  const Recording r = one_unit({-0.001, 0.0, 0.004999, 0.005, 0.0125, 0.02, 0.03});
  std::vector<float> out(4);
  bin_spikes(r, {0}, 0.0, 0.005, 4, out.data());
  CHECK(out == std::vector<float>{2, 1, 1, 0});

  // Edges that are not exact in binary: 0.1 + 3 * 0.005 = 0.115.
  const Recording s = one_unit({0.1, 0.105, 0.11, 0.115, 0.1199});
  bin_spikes(s, {0}, 0.1, 0.005, 4, out.data());
  CHECK(out == std::vector<float>{1, 1, 1, 2});
}

TEST_CASE("binning: unit selection, column order and a float64 reference on random spikes") {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> when(0.0, 3.0);
  Recording r;
  for (int u = 0; u < 5; ++u) {
    Unit unit{u, false, {}};
    for (int k = 0; k < 200 + 37 * u; ++k) unit.spike_times.push_back(when(rng));
    std::sort(unit.spike_times.begin(), unit.spike_times.end());
    r.units.push_back(unit);
  }
  const std::vector<int64_t> pick{3, 0, 4};
  const double t0 = 0.4213, bin = 0.013;
  const int64_t bins = 171;
  std::vector<float> out(static_cast<size_t>(bins) * pick.size());
  bin_spikes(r, pick, t0, bin, bins, out.data());
  std::vector<double> ref(out.size(), 0.0);
  for (size_t j = 0; j < pick.size(); ++j)
    for (double t : r.units[static_cast<size_t>(pick[j])].spike_times) {
      const double b = std::floor((t - t0) / bin);
      if (b >= 0 && b < bins) ref[static_cast<size_t>(b) * pick.size() + j] += 1;
    }
  for (size_t i = 0; i < out.size(); ++i) REQUIRE(out[i] == ref[i]);

  const BinnedCounts all = bin_recording(r, 0.005);
  double total = 0;
  for (float c : all.counts) total += c;
  CHECK(total == r.spike_count());
  CHECK(all.units == 5);
  CHECK(std::abs(all.t0 / 0.005 - std::round(all.t0 / 0.005)) < 1e-6);
  const Tensor t = counts_tensor(all);
  CHECK(t.shape() == Shape{all.bins, 5});
  CHECK(t.dtype() == DType::f32);

  CHECK_THROWS_AS(bin_spikes(r, {9}, 0, 0.005, 2, out.data()), Error);
  CHECK_THROWS_AS(bin_spikes(r, {0}, 0, 0.0, 2, out.data()), Error);
}

TEST_CASE("binning: behaviour is averaged per bin, interpolated when sparse, NaN outside") {
  // Times are multiples of 1/1024 s so every bin edge is exact in binary.
  constexpr double tick = 1.0 / 1024;
  BehaviorSeries fine;
  fine.name = "ramp";
  fine.channels = 2;
  for (int i = 0; i < 1000; ++i) {
    fine.timestamps.push_back(i * tick);
    fine.data.push_back(i * tick);  // value = time
    fine.data.push_back(5.0);
  }
  std::vector<float> out(2 * 3);
  resample_behavior(fine, 100 * tick, 5 * tick, 3, out.data());
  // Samples 100 .. 104 average to 102.
  CHECK(out[0] == doctest::Approx(102 * tick).epsilon(1e-6));
  CHECK(out[1] == doctest::Approx(5.0));
  CHECK(out[4] == doctest::Approx(112 * tick).epsilon(1e-6));

  BehaviorSeries coarse;
  coarse.name = "coarse";
  coarse.channels = 1;
  coarse.timestamps = {0.0, 1.0, 2.0};
  coarse.data = {0.0, 2.0, 6.0};
  std::vector<float> c(12);
  resample_behavior(coarse, -0.5, 0.25, 12, c.data());
  CHECK(std::isnan(c[0]));               // centre -0.375: before the series
  CHECK(std::isnan(c[1]));               // centre -0.125
  CHECK(c[2] == doctest::Approx(0.0));   // holds the sample at 0
  CHECK(c[3] == doctest::Approx(0.75));  // centre 0.375 interpolated: 2 * 0.375
  CHECK(c[6] == doctest::Approx(2.0));   // holds the sample at 1
  CHECK(c[7] == doctest::Approx(3.5));   // centre 1.375: 2 + 4 * 0.375
  CHECK(c[10] == doctest::Approx(6.0));  // holds the sample at 2
  CHECK(std::isnan(c[11]));              // centre 2.375: after the series
}

TEST_CASE("events: per non-zero bin and per spike, padded into tensors") {
  const std::vector<float> counts{0, 2, 0,  //
                                  1, 0, 0,  //
                                  0, 0, 0,  //
                                  0, 1, 3};
  const auto ev = events_from_counts(counts.data(), 4, 3, 0.005);
  REQUIRE(ev.size() == 4);
  CHECK(ev[0].unit == 1);
  CHECK(ev[0].count == 2);
  CHECK(ev[0].time == doctest::Approx(0.0025));
  CHECK(ev[1].unit == 0);
  CHECK(ev[1].time == doctest::Approx(0.0075));
  CHECK(ev[3].unit == 2);
  CHECK(ev[3].count == 3);
  CHECK(ev[3].time == doctest::Approx(0.0175));

  const Recording r = test::small_recording();
  const auto spikes = spike_events(r, {1, 0}, 0.05, 0.7);
  // unit 11 (column 0): 0.05, 0.6, 0.61; unit 10 (column 1): 0.1005, 0.25
  REQUIRE(spikes.size() == 5);
  CHECK(spikes[0].unit == 0);
  CHECK(spikes[0].time == doctest::Approx(0.0));
  CHECK(spikes[1].unit == 1);
  CHECK(spikes[1].time == doctest::Approx(0.0505));
  CHECK(spikes[4].time == doctest::Approx(0.56));
  for (const auto& e : spikes) CHECK(e.count == 1);

  const EventBatch batch = pad_events({ev, spikes, {}});
  CHECK(batch.unit.shape() == Shape{3, 5});
  CHECK(batch.unit.dtype() == DType::i64);
  const auto mask = batch.mask.to_vector<float>();
  CHECK(mask == std::vector<float>{1, 1, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0});
  CHECK(batch.count.to_vector<float>()[3] == 3.0f);
  const EventBatch capped = pad_events({ev, spikes}, 2);
  CHECK(capped.time.shape() == Shape{2, 2});
  CHECK(capped.unit.to_vector<int64_t>() == std::vector<int64_t>{1, 0, 0, 1});

  const std::vector<float> negative{0, -1};
  CHECK_THROWS_AS(events_from_counts(negative.data(), 1, 2, 0.005), Error);
}
