#include "nn/cortex/spike_batch.h"

#include "engine/error.h"

namespace cortex::nn {

void SpikeEvents::append(const SpikeEvents& other) {
  unit.insert(unit.end(), other.unit.begin(), other.unit.end());
  count.insert(count.end(), other.count.begin(), other.count.end());
  time_ms.insert(time_ms.end(), other.time_ms.begin(), other.time_ms.end());
}

SpikeEvents SpikeEvents::slice(int64_t begin, int64_t end) const {
  CORTEX_CHECK(0 <= begin && begin <= end && end <= size(), "SpikeEvents::slice", "range [", begin, ", ", end,
               ") outside [0, ", size(), ")");
  SpikeEvents out;
  out.unit.assign(unit.begin() + begin, unit.begin() + end);
  out.count.assign(count.begin() + begin, count.begin() + end);
  out.time_ms.assign(time_ms.begin() + begin, time_ms.begin() + end);
  return out;
}

void SpikeEvents::check_lengths(const char* op) const {
  CORTEX_CHECK(count.size() == unit.size() && time_ms.size() == unit.size(), op,
               "spike events need one unit, count and time each, got ", unit.size(), " units, ", count.size(),
               " counts and ", time_ms.size(), " times");
}

void CortexInput::add_sample(const SpikeEvents& sample_events, double window_start) {
  events.append(sample_events);
  segments.offsets.push_back(segments.offsets.back() + sample_events.size());
  window_start_ms.push_back(window_start);
}

void BehaviourQueries::add_sample(const std::vector<double>& times) {
  time_ms.insert(time_ms.end(), times.begin(), times.end());
  segments.offsets.push_back(segments.offsets.back() + static_cast<int64_t>(times.size()));
}

}  // namespace cortex::nn
