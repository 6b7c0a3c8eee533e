#include "train/data/windows.h"

#include <cmath>

#include "engine/error.h"

namespace cortex::data {
namespace {

int64_t whole_bins(const char* op, double length_s, double bin_s) {
  CORTEX_CHECK(bin_s > 0 && std::isfinite(bin_s), op, "bin_s must be positive, got ", bin_s);
  CORTEX_CHECK(length_s > 0 && std::isfinite(length_s), op, "window length must be positive, got ", length_s);
  const double bins = length_s / bin_s;
  const double rounded = std::round(bins);
  CORTEX_CHECK(std::abs(bins - rounded) < 1e-6, op, "window length ", length_s, " s is not a whole number of ",
               bin_s, " s bins");
  return static_cast<int64_t>(rounded);
}

std::string joined(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ", ") + n;
  return s.empty() ? "none" : s;
}

}  // namespace

std::vector<Window> trial_windows(const Recording& rec, const TrialAlignment& align) {
  CORTEX_CHECK(std::isfinite(align.before_s), "trial_windows", "before_s must be finite");
  std::vector<Window> windows;
  for (size_t i = 0; i < rec.trials.size(); ++i) {
    const double onset = rec.trials[i].move_onset_time;
    if (std::isfinite(onset)) windows.push_back({onset - align.before_s, static_cast<int64_t>(i)});
  }
  return windows;
}

std::vector<Window> sliding_windows(const Recording& rec, const SlidingWindows& sliding) {
  CORTEX_CHECK(sliding.length_s > 0 && sliding.stride_s > 0, "sliding_windows",
               "length_s and stride_s must be positive, got ", sliding.length_s, " and ", sliding.stride_s);
  std::vector<Window> windows;
  const double start = rec.t_start(), stop = rec.t_stop();
  for (int64_t k = 0;; ++k) {
    const double t0 = start + static_cast<double>(k) * sliding.stride_s;
    if (t0 + sliding.length_s > stop + 1e-9) break;
    windows.push_back({t0, -1});
  }
  return windows;
}

SampleSet extract_samples(const Recording& rec, const std::vector<Window>& windows, int64_t bins,
                          const SampleOptions& options) {
  CORTEX_CHECK(bins > 0, "extract_samples", "bins must be positive, got ", bins);
  CORTEX_CHECK(options.bin_s > 0 && std::isfinite(options.bin_s), "extract_samples", "bin_s must be positive");
  const BehaviorSeries* series = nullptr;
  if (!options.behavior.empty()) {
    series = rec.find_behavior(options.behavior);
    CORTEX_CHECK(series, "extract_samples", "no behaviour series '", options.behavior,
                 "' in the recording; it has: ", joined(rec.behavior_names()));
  }

  SampleSet set;
  set.bins = bins;
  set.bin_s = options.bin_s;
  std::vector<int64_t> heldin_idx, heldout_idx;
  for (size_t i = 0; i < rec.units.size(); ++i) {
    auto& idx = rec.units[i].heldout ? heldout_idx : heldin_idx;
    auto& ids = rec.units[i].heldout ? set.heldout_ids : set.heldin_ids;
    idx.push_back(static_cast<int64_t>(i));
    ids.push_back(rec.units[i].id);
  }
  if (series) {
    set.behavior_name = series->name;
    set.behavior_dims = series->channels;
  }

  const size_t t = static_cast<size_t>(bins);
  const size_t per_in = t * heldin_idx.size(), per_out = t * heldout_idx.size();
  const size_t per_beh = t * static_cast<size_t>(set.behavior_dims);
  std::vector<float> beh(per_beh);
  for (const Window& w : windows) {
    if (series) {
      resample_behavior(*series, w.t0 + options.behavior_lag_s, options.bin_s, bins, beh.data());
      bool complete = true;
      for (float v : beh) complete = complete && std::isfinite(v);
      if (!complete) {
        ++set.dropped;
        continue;
      }
      set.behavior.insert(set.behavior.end(), beh.begin(), beh.end());
    }
    set.heldin.resize(set.heldin.size() + per_in);
    bin_spikes(rec, heldin_idx, w.t0, options.bin_s, bins, set.heldin.data() + set.heldin.size() - per_in);
    set.heldout.resize(set.heldout.size() + per_out);
    bin_spikes(rec, heldout_idx, w.t0, options.bin_s, bins, set.heldout.data() + set.heldout.size() - per_out);
    set.t_start.push_back(w.t0);
    set.trial.push_back(w.trial);
  }
  return set;
}

SampleSet trial_aligned_samples(const Recording& rec, const TrialAlignment& align, const SampleOptions& options) {
  const int64_t bins = whole_bins("trial_aligned_samples", align.before_s + align.after_s, options.bin_s);
  const auto windows = trial_windows(rec, align);
  SampleSet set = extract_samples(rec, windows, bins, options);
  set.dropped += static_cast<int64_t>(rec.trials.size() - windows.size());
  return set;
}

SampleSet sliding_window_samples(const Recording& rec, const SlidingWindows& sliding, const SampleOptions& options) {
  const int64_t bins = whole_bins("sliding_window_samples", sliding.length_s, options.bin_s);
  return extract_samples(rec, sliding_windows(rec, sliding), bins, options);
}

}  // namespace cortex::data
