#pragma once
// Spikes as a list of events (the token stream of event-based models): one event per
// non-zero bin of a count matrix, or one per spike. Times are seconds from the window start.
#include <cstdint>
#include <vector>

#include "engine/tensor.h"
#include "train/data/recording.h"

namespace cortex::data {

struct Event {
  int32_t unit = 0;   // column of the count matrix / position in the unit list given
  float time = 0;     // seconds from the window start (bin centre for binned events)
  int32_t count = 1;  // spikes the event stands for
};

// counts: [bins, units] row-major. Events are ordered by time, then unit.
std::vector<Event> events_from_counts(const float* counts, int64_t bins, int64_t units, double bin_s);

// Every spike of rec.units[unit_indices[j]] in [t0, t1) as an event with unit j, count 1;
// ordered by time, then unit.
std::vector<Event> spike_events(const Recording& rec, const std::vector<int64_t>& unit_indices, double t0,
                                double t1);

// Event lists padded to one length for a batch: unit i64 [B, N], time f32 [B, N],
// count f32 [B, N], mask f32 [B, N] (1 for a real event, 0 for padding). N is max_events, or the
// longest list when max_events < 0; longer lists keep their first N events.
struct EventBatch {
  Tensor unit, time, count, mask;
};
EventBatch pad_events(const std::vector<std::vector<Event>>& lists, int64_t max_events = -1,
                      Device device = Device::cpu());

}  // namespace cortex::data
