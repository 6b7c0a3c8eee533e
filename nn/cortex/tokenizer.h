#pragma once
// One token per spike event: unit embedding + count embedding (+ an embedding of the
// event's time bin within its window when the config asks for it). No electrode geometry:
// a unit is only an id below the vocabulary size.
#include <memory>
#include <utility>
#include <vector>

#include "nn/cortex/spike_batch.h"
#include "nn/layers/embedding.h"
#include "nn/model_config.h"

namespace cortex::nn {

// Row indices of each event into the three tables, on the model's device (i64 [E]).
struct EventIndices {
  Tensor unit, count, bin;  // bin undefined without the time-bin embedding
};

class SpikeTokenizer : public Module {
 public:
  SpikeTokenizer(const CortexConfig& config, Generator* gen, DType dtype, Device device);

  // Checks every event (unit in [0, unit_vocab), count >= 1, finite time) and uploads the
  // indices; counts above max_count saturate. window_start_ms (one per event) is needed,
  // and must place each event inside its window, only with the time-bin embedding.
  EventIndices indices(const SpikeEvents& events, const std::vector<double>* window_start_ms, Device device) const;
  // The unit and count table rows of event e, checked as indices() checks them.
  std::pair<int64_t, int64_t> rows_of(const SpikeEvents& events, int64_t e) const;
  bool has_time_bins() const { return time_bin != nullptr; }

  std::shared_ptr<Embedding> unit, count, time_bin;

 private:
  int64_t max_count_;
  double bin_ms_;
  int64_t bins_;
};

}  // namespace cortex::nn
