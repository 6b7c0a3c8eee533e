#pragma once
// What Cortex reads: spike events (unit id, count, absolute time) of several samples packed
// end to end, and the times at which outputs are wanted. Host-side: these are the index
// bookkeeping the model uploads to its device once per forward.
#include <cstdint>
#include <vector>

#include "nn/cortex/segments.h"

namespace cortex::nn {

struct SpikeEvents {
  std::vector<int32_t> unit;
  std::vector<int32_t> count;   // spikes of the unit in the event (>= 1)
  std::vector<double> time_ms;  // absolute recording time, not relative to any window

  int64_t size() const { return static_cast<int64_t>(unit.size()); }
  void push_back(int32_t u, int32_t c, double t) {
    unit.push_back(u);
    count.push_back(c);
    time_ms.push_back(t);
  }
  void append(const SpikeEvents& other);
  // Events [begin, end).
  SpikeEvents slice(int64_t begin, int64_t end) const;
  // Throws unless the three lists have one entry per event.
  void check_lengths(const char* op) const;
};

// A batch: each sample is the events of one context window.
struct CortexInput {
  SpikeEvents events;                   // all samples' events, packed
  Segments segments;                    // which events belong to which sample
  std::vector<double> window_start_ms;  // per sample; the window is [start, start + window_ms)

  int64_t samples() const { return static_cast<int64_t>(window_start_ms.size()); }
  // Appends one sample.
  void add_sample(const SpikeEvents& sample_events, double window_start);
};

// Output times for the behaviour head, packed per sample.
struct BehaviourQueries {
  std::vector<double> time_ms;
  Segments segments;
  void add_sample(const std::vector<double>& times);
};

// (unit, time) cells whose spikes were hidden from the encoder, and their counts.
struct MaskedSpikeQueries {
  std::vector<int32_t> unit;
  std::vector<double> time_ms;  // centre of the masked cell
  std::vector<float> target;    // observed spike count in the cell (0 allowed)
  Segments segments;
  int64_t size() const { return static_cast<int64_t>(unit.size()); }
};

}  // namespace cortex::nn
