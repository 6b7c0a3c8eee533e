#include "nn/cortex/masking.h"

#include <cmath>
#include <map>
#include <set>

#include "engine/error.h"
#include "engine/philox.h"

namespace cortex::nn {

MaskedBatch mask_spike_cells(const CortexInput& input, double window_ms, double bin_ms, double mask_ratio,
                             uint64_t seed) {
  constexpr const char* op = "mask_spike_cells";
  CORTEX_CHECK(mask_ratio >= 0.0 && mask_ratio <= 1.0, op, "mask ratio must lie in [0, 1], got ", mask_ratio);
  CORTEX_CHECK(window_ms > 0 && bin_ms > 0, op, "window and bin must be positive, got ", window_ms, " and ", bin_ms);
  input.events.check_lengths(op);
  input.segments.check(op, "event", input.events.size(), input.samples());
  const int64_t bins = static_cast<int64_t>(std::ceil(window_ms / bin_ms - 1e-9));

  MaskedBatch out;
  for (int64_t b = 0; b < input.samples(); ++b) {
    const double start = input.window_start_ms[static_cast<size_t>(b)];
    const SpikeEvents events =
        input.events.slice(input.segments.begin(b), input.segments.begin(b) + input.segments.size(b));
    auto bin_of = [&](int64_t e) {
      const int64_t k = static_cast<int64_t>(std::floor((events.time_ms[static_cast<size_t>(e)] - start) / bin_ms));
      CORTEX_CHECK(k >= 0 && k < bins, op, "sample ", b, " event ", e, " at ", events.time_ms[static_cast<size_t>(e)],
                   " ms lies outside the window [", start, ", ", start + window_ms, ") ms");
      return k;
    };
    auto hidden = [&](int32_t unit, int64_t k) {
      const uint64_t cell = static_cast<uint64_t>(unit) * static_cast<uint64_t>(bins) + static_cast<uint64_t>(k);
      return philox::uniform(seed, static_cast<uint64_t>(b), cell) < mask_ratio;
    };
    std::set<int32_t> units(events.unit.begin(), events.unit.end());
    std::map<std::pair<int32_t, int64_t>, float> hidden_counts;
    SpikeEvents visible;
    for (int64_t e = 0; e < events.size(); ++e) {
      const int32_t u = events.unit[static_cast<size_t>(e)];
      const int64_t k = bin_of(e);
      if (hidden(u, k))
        hidden_counts[{u, k}] += static_cast<float>(events.count[static_cast<size_t>(e)]);
      else
        visible.push_back(u, events.count[static_cast<size_t>(e)], events.time_ms[static_cast<size_t>(e)]);
    }
    out.input.add_sample(visible, start);
    for (int32_t u : units) {
      for (int64_t k = 0; k < bins; ++k) {
        if (!hidden(u, k)) continue;
        auto it = hidden_counts.find({u, k});
        out.queries.unit.push_back(u);
        out.queries.time_ms.push_back(start + (static_cast<double>(k) + 0.5) * bin_ms);
        out.queries.target.push_back(it == hidden_counts.end() ? 0.0f : it->second);
      }
    }
    out.queries.segments.offsets.push_back(out.queries.size());
  }
  return out;
}

}  // namespace cortex::nn
