#pragma once
// A recording session in memory: what the NWB reader returns, the synthetic generator
// produces and the NWB writer stores. Times are seconds on the session clock.
#include <cstdint>
#include <string>
#include <vector>

namespace cortex::data {

struct Unit {
  int64_t id = 0;
  bool heldout = false;             // NLB's held-out flag (false when the file has no such column)
  std::vector<double> spike_times;  // seconds, sorted ascending
};

struct Trial {
  double start_time = 0;
  double stop_time = 0;
  double move_onset_time = 0;  // NaN when the file has no such column or the trial has no onset
};

// A behaviour TimeSeries as stored: one row of `channels` values per timestamp.
struct BehaviorSeries {
  std::string name;               // path below /processing/behavior, e.g. "hand_vel"
  // Written as the data's `unit` attribute; read_nwb leaves it empty because reading
  // variable-length strings from a damaged file can hang libhdf5 1.10 (found by fuzzing).
  std::string unit;
  int64_t channels = 0;           // columns of `data` (1 for a 1-D series)
  std::vector<double> timestamps; // seconds, ascending
  std::vector<double> data;       // [timestamps.size(), channels] row-major, conversion applied
  int64_t samples() const { return static_cast<int64_t>(timestamps.size()); }
};

struct Recording {
  std::vector<Unit> units;
  std::vector<Trial> trials;
  std::vector<BehaviorSeries> behavior;

  int64_t spike_count() const;
  int64_t heldout_count() const;
  // Earliest and latest time seen in spikes, trials and behaviour (0 and 0 when empty).
  double t_start() const;
  double t_stop() const;
  // The series of that name, or null.
  const BehaviorSeries* find_behavior(const std::string& name) const;
  std::vector<std::string> behavior_names() const;
};

}  // namespace cortex::data
