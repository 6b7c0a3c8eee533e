#pragma once
// Helpers shared by the data-layer tests: a scratch folder, small hand-made recordings, a
// way to edit a written HDF5 file in place, and a ridge-regression (Wiener filter) decoder.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <filesystem>
#include <functional>
#include <string>
#include <unistd.h>
#include <vector>

#include "engine/error.h"
#include "train/data/h5.h"
#include "train/data/recording.h"
#include "train/data/sample_set.h"

namespace cortex::data::test {

// A fresh folder under the system temp dir, removed with its contents at scope exit.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            ("cortex_test_data_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// Three units (ids 10, 11, 12; 12 held out), two trials, hand_vel at 1 kHz over [0, 2] s.
inline Recording small_recording() {
  Recording r;
  r.units = {{10, false, {0.0012, 0.1005, 0.25, 0.7, 1.31}},
             {11, false, {0.05, 0.6, 0.61, 1.9}},
             {12, true, {0.33, 1.2}}};
  r.trials = {{0.1, 0.9, 0.4}, {1.0, 1.8, 1.3}};
  BehaviorSeries v;
  v.name = "hand_vel";
  v.unit = "mm/s";
  v.channels = 2;
  for (int i = 0; i <= 2000; ++i) {
    const double t = i * 0.001;
    v.timestamps.push_back(t);
    v.data.push_back(100 * std::sin(3 * t));
    v.data.push_back(-50 * t);
  }
  r.behavior.push_back(v);
  return r;
}

// Opens a written file for writing and lets `edit` change it (under the HDF5 lock).
inline void edit_file(const std::string& file, const std::function<void(hid_t)>& edit) {
  auto guard = h5::lock();
  h5::Handle f = h5::open_file(file, true);
  edit(f.get());
}

inline void require_same(const Recording& a, const Recording& b) {
  REQUIRE(a.units.size() == b.units.size());
  for (size_t i = 0; i < a.units.size(); ++i) {
    CHECK(a.units[i].id == b.units[i].id);
    CHECK(a.units[i].heldout == b.units[i].heldout);
    CHECK(a.units[i].spike_times == b.units[i].spike_times);
  }
  REQUIRE(a.trials.size() == b.trials.size());
  for (size_t i = 0; i < a.trials.size(); ++i) {
    CHECK(a.trials[i].start_time == b.trials[i].start_time);
    CHECK(a.trials[i].stop_time == b.trials[i].stop_time);
    const double x = a.trials[i].move_onset_time, y = b.trials[i].move_onset_time;
    CHECK(((std::isnan(x) && std::isnan(y)) || x == y));
  }
  REQUIRE(a.behavior.size() == b.behavior.size());
  for (size_t i = 0; i < a.behavior.size(); ++i) {
    CHECK(a.behavior[i].name == b.behavior[i].name);
    CHECK(a.behavior[i].channels == b.behavior[i].channels);
    CHECK(a.behavior[i].data == b.behavior[i].data);
    REQUIRE(a.behavior[i].timestamps.size() == b.behavior[i].timestamps.size());
    double worst = 0;
    for (size_t k = 0; k < a.behavior[i].timestamps.size(); ++k)
      worst = std::max(worst, std::abs(a.behavior[i].timestamps[k] - b.behavior[i].timestamps[k]));
    CHECK(worst < 1e-9);
  }
}

// Wiener filter: ridge regression from held-in spike history (taps chunks of `chunk` bins,
// newest first, plus a bias) to behaviour at the same bin. Fitted on samples [0, split),
// scored on [split, n) from bin `skip` on; returns the R^2 averaged over behaviour dims.
inline double wiener_r2(const SampleSet& s, int64_t split, int chunk, int taps, int64_t skip) {
  const int64_t units = s.heldin_units(), dims = s.behavior_dims;
  const int64_t d = units * taps + 1;
  auto features = [&](int64_t i, int64_t t, std::vector<double>& x) {
    x.assign(static_cast<size_t>(d), 0.0);
    for (int k = 0; k < taps; ++k)
      for (int b = 0; b < chunk; ++b) {
        const int64_t tt = t - k * chunk - b;
        if (tt < 0) continue;
        const float* row = &s.heldin[static_cast<size_t>((i * s.bins + tt) * units)];
        for (int64_t u = 0; u < units; ++u) x[static_cast<size_t>(k * units + u)] += row[u];
      }
    x.back() = 1.0;
  };
  std::vector<double> a(static_cast<size_t>(d * d), 0.0), rhs(static_cast<size_t>(d * dims), 0.0), x;
  for (int64_t i = 0; i < split; ++i)
    for (int64_t t = skip; t < s.bins; ++t) {
      features(i, t, x);
      const float* y = &s.behavior[static_cast<size_t>((i * s.bins + t) * dims)];
      for (int64_t p = 0; p < d; ++p) {
        const double xp = x[static_cast<size_t>(p)];
        if (xp == 0) continue;
        for (int64_t q = 0; q <= p; ++q) a[static_cast<size_t>(p * d + q)] += xp * x[static_cast<size_t>(q)];
        for (int64_t c = 0; c < dims; ++c) rhs[static_cast<size_t>(p * dims + c)] += xp * y[c];
      }
    }
  for (int64_t p = 0; p < d; ++p) {
    a[static_cast<size_t>(p * d + p)] += 1.0;  // ridge
    for (int64_t q = p + 1; q < d; ++q) a[static_cast<size_t>(p * d + q)] = a[static_cast<size_t>(q * d + p)];
  }
  // Cholesky a = L L^T in place (lower triangle), then two triangular solves per output.
  for (int64_t j = 0; j < d; ++j) {
    double diag = a[static_cast<size_t>(j * d + j)];
    for (int64_t k = 0; k < j; ++k) diag -= a[static_cast<size_t>(j * d + k)] * a[static_cast<size_t>(j * d + k)];
    a[static_cast<size_t>(j * d + j)] = std::sqrt(diag);
    for (int64_t i = j + 1; i < d; ++i) {
      double v = a[static_cast<size_t>(i * d + j)];
      for (int64_t k = 0; k < j; ++k) v -= a[static_cast<size_t>(i * d + k)] * a[static_cast<size_t>(j * d + k)];
      a[static_cast<size_t>(i * d + j)] = v / a[static_cast<size_t>(j * d + j)];
    }
  }
  std::vector<double> w = rhs;
  for (int64_t c = 0; c < dims; ++c) {
    for (int64_t i = 0; i < d; ++i) {
      double v = w[static_cast<size_t>(i * dims + c)];
      for (int64_t k = 0; k < i; ++k) v -= a[static_cast<size_t>(i * d + k)] * w[static_cast<size_t>(k * dims + c)];
      w[static_cast<size_t>(i * dims + c)] = v / a[static_cast<size_t>(i * d + i)];
    }
    for (int64_t i = d - 1; i >= 0; --i) {
      double v = w[static_cast<size_t>(i * dims + c)];
      for (int64_t k = i + 1; k < d; ++k) v -= a[static_cast<size_t>(k * d + i)] * w[static_cast<size_t>(k * dims + c)];
      w[static_cast<size_t>(i * dims + c)] = v / a[static_cast<size_t>(i * d + i)];
    }
  }
  double r2 = 0;
  for (int64_t c = 0; c < dims; ++c) {
    double mean = 0, n = 0;
    for (int64_t i = split; i < s.samples(); ++i)
      for (int64_t t = skip; t < s.bins; ++t) mean += s.behavior[static_cast<size_t>((i * s.bins + t) * dims + c)], ++n;
    mean /= n;
    double ss_res = 0, ss_tot = 0;
    for (int64_t i = split; i < s.samples(); ++i)
      for (int64_t t = skip; t < s.bins; ++t) {
        features(i, t, x);
        double pred = 0;
        for (int64_t p = 0; p < d; ++p) pred += x[static_cast<size_t>(p)] * w[static_cast<size_t>(p * dims + c)];
        const double y = s.behavior[static_cast<size_t>((i * s.bins + t) * dims + c)];
        ss_res += (y - pred) * (y - pred);
        ss_tot += (y - mean) * (y - mean);
      }
    r2 += 1 - ss_res / ss_tot;
  }
  return r2 / static_cast<double>(dims);
}

}  // namespace cortex::data::test
