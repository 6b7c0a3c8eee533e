#pragma once
// Cutting a session into fixed-length binned samples: windows aligned to each trial's
// movement onset (the benchmark's -250..+450 ms), or sliding windows over the continuous
// recording (600 ms every 50 ms by default). Behaviour is resampled to the same bins.
#include <cstdint>
#include <string>
#include <vector>

#include "train/data/binning.h"
#include "train/data/recording.h"
#include "train/data/sample_set.h"

namespace cortex::data {

struct SampleOptions {
  double bin_s = kDefaultBinS;
  std::string behavior = "hand_vel";  // series to resample; "" for none
  // Behaviour at bin b is the series at the bin's time + lag, so spikes at b predict behaviour
  // at b (the benchmark's export is shifted the same way; 0.1 s as NLB uses for MC_Maze).
  double behavior_lag_s = 0.1;
};

struct TrialAlignment {
  double before_s = 0.25;  // window starts this long before move_onset_time
  double after_s = 0.45;   // and ends this long after it
};

struct SlidingWindows {
  double length_s = 0.6;
  double stride_s = 0.05;
};

// Where a sample starts on the session clock, and which trial it belongs to (-1: none).
struct Window {
  double t0 = 0;
  int64_t trial = -1;
};

// move_onset - before_s for each trial; trials whose onset is NaN are skipped.
std::vector<Window> trial_windows(const Recording& rec, const TrialAlignment& align = {});
// t_start, t_start + stride, ... while the window still ends by t_stop (of the recording).
std::vector<Window> sliding_windows(const Recording& rec, const SlidingWindows& sliding = {});

// Bins `bins` bins from each window start. Held-in and held-out units go to separate streams
// (by Unit::heldout, in rec.units order). Windows whose behaviour has a NaN (outside the
// series) are skipped and counted in SampleSet::dropped. Throws when the behaviour series is
// not in the recording (naming the ones that are).
SampleSet extract_samples(const Recording& rec, const std::vector<Window>& windows, int64_t bins,
                          const SampleOptions& options = {});

// The two common cases. The window length must be a whole number of bins. Both materialise
// every window: overlapping sliding windows cost length/stride times the session's binned size
// (the default 480 s synthetic session: ~440 MB of held-in counts), so for long sessions call
// sliding_windows() once and extract_samples() on slices of it, batch by batch.
SampleSet trial_aligned_samples(const Recording& rec, const TrialAlignment& align = {},
                                const SampleOptions& options = {});
SampleSet sliding_window_samples(const Recording& rec, const SlidingWindows& sliding = {},
                                 const SampleOptions& options = {});

}  // namespace cortex::data
