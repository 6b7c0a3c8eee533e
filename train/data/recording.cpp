#include "train/data/recording.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace cortex::data {

int64_t Recording::spike_count() const {
  int64_t n = 0;
  for (const auto& u : units) n += static_cast<int64_t>(u.spike_times.size());
  return n;
}

int64_t Recording::heldout_count() const {
  return std::count_if(units.begin(), units.end(), [](const Unit& u) { return u.heldout; });
}

namespace {
// Folds every finite time of the recording into lo/hi.
void time_range(const Recording& r, double& lo, double& hi) {
  lo = std::numeric_limits<double>::infinity();
  hi = -lo;
  auto take = [&](double t) {
    if (std::isfinite(t)) lo = std::min(lo, t), hi = std::max(hi, t);
  };
  for (const auto& u : r.units) {
    if (!u.spike_times.empty()) take(u.spike_times.front()), take(u.spike_times.back());
  }
  for (const auto& t : r.trials) take(t.start_time), take(t.stop_time);
  for (const auto& b : r.behavior) {
    if (!b.timestamps.empty()) take(b.timestamps.front()), take(b.timestamps.back());
  }
  if (lo > hi) lo = hi = 0;
}
}  // namespace

double Recording::t_start() const {
  double lo, hi;
  time_range(*this, lo, hi);
  return lo;
}

double Recording::t_stop() const {
  double lo, hi;
  time_range(*this, lo, hi);
  return hi;
}

const BehaviorSeries* Recording::find_behavior(const std::string& name) const {
  for (const auto& b : behavior) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

std::vector<std::string> Recording::behavior_names() const {
  std::vector<std::string> names;
  for (const auto& b : behavior) names.push_back(b.name);
  return names;
}

}  // namespace cortex::data
