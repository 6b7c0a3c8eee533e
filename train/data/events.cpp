#include "train/data/events.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/factory.h"

namespace cortex::data {

std::vector<Event> events_from_counts(const float* counts, int64_t bins, int64_t units, double bin_s) {
  CORTEX_CHECK(bins >= 0 && units >= 0, "events_from_counts", "bad shape [", bins, ", ", units, "]");
  CORTEX_CHECK(bin_s > 0, "events_from_counts", "bin_s must be positive, got ", bin_s);
  std::vector<Event> events;
  for (int64_t b = 0; b < bins; ++b) {
    for (int64_t u = 0; u < units; ++u) {
      const float c = counts[b * units + u];
      CORTEX_CHECK(c >= 0 && std::isfinite(c), "events_from_counts", "count at bin ", b, " unit ", u, " is ", c,
                   "; expected a non-negative number");
      const auto n = static_cast<int32_t>(std::lround(c));
      if (n > 0) events.push_back({static_cast<int32_t>(u), static_cast<float>((static_cast<double>(b) + 0.5) * bin_s), n});
    }
  }
  return events;
}

std::vector<Event> spike_events(const Recording& rec, const std::vector<int64_t>& unit_indices, double t0,
                                double t1) {
  CORTEX_CHECK(t1 >= t0, "spike_events", "window end ", t1, " is before its start ", t0);
  std::vector<Event> events;
  for (size_t j = 0; j < unit_indices.size(); ++j) {
    const int64_t u = unit_indices[j];
    CORTEX_CHECK(u >= 0 && u < static_cast<int64_t>(rec.units.size()), "spike_events", "unit index ", u,
                 " out of range for ", rec.units.size(), " units");
    const auto& times = rec.units[static_cast<size_t>(u)].spike_times;
    for (auto it = std::lower_bound(times.begin(), times.end(), t0); it != times.end() && *it < t1; ++it)
      events.push_back({static_cast<int32_t>(j), static_cast<float>(*it - t0), 1});
  }
  std::stable_sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    return a.time < b.time || (a.time == b.time && a.unit < b.unit);
  });
  return events;
}

EventBatch pad_events(const std::vector<std::vector<Event>>& lists, int64_t max_events, Device device) {
  int64_t n = max_events;
  if (n < 0) {
    n = 0;
    for (const auto& l : lists) n = std::max<int64_t>(n, static_cast<int64_t>(l.size()));
  }
  const auto b = static_cast<int64_t>(lists.size());
  std::vector<int64_t> unit(static_cast<size_t>(b * n), 0);
  std::vector<float> time(unit.size(), 0.0f), count(unit.size(), 0.0f), mask(unit.size(), 0.0f);
  for (int64_t i = 0; i < b; ++i) {
    const auto& l = lists[static_cast<size_t>(i)];
    const int64_t k = std::min<int64_t>(n, static_cast<int64_t>(l.size()));
    for (int64_t e = 0; e < k; ++e) {
      const size_t at = static_cast<size_t>(i * n + e);
      unit[at] = l[static_cast<size_t>(e)].unit;
      time[at] = l[static_cast<size_t>(e)].time;
      count[at] = static_cast<float>(l[static_cast<size_t>(e)].count);
      mask[at] = 1.0f;
    }
  }
  const Shape shape{b, n};
  return {from_vector(unit, shape, device), from_vector(time, shape, device), from_vector(count, shape, device),
          from_vector(mask, shape, device)};
}

}  // namespace cortex::data
