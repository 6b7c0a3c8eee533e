#include "train/output_smoothing.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"

namespace cortex::train {

void smooth_predictions(std::vector<float>& values, int64_t bins, int64_t outputs, double sigma_bins, bool causal) {
  CORTEX_CHECK(std::isfinite(sigma_bins) && sigma_bins >= 0, "smooth_predictions", "sigma must be a finite number >= 0, got ",
               sigma_bins);
  CORTEX_CHECK(bins > 0 && outputs > 0 && values.size() % static_cast<size_t>(bins * outputs) == 0,
               "smooth_predictions", values.size(), " values are not whole trials of ", bins, " bins x ", outputs,
               " outputs");
  if (sigma_bins == 0) return;
  // Clamped in double before the cast: no bin lies further than bins - 1 away, and a huge
  // sigma must not overflow the integer.
  const int64_t radius = static_cast<int64_t>(std::min(std::ceil(3 * sigma_bins), static_cast<double>(bins - 1)));
  std::vector<double> weight(static_cast<size_t>(radius + 1));  // by distance in bins
  for (int64_t d = 0; d <= radius; ++d) weight[static_cast<size_t>(d)] = std::exp(-0.5 * (d / sigma_bins) * (d / sigma_bins));
  const int64_t trials = static_cast<int64_t>(values.size()) / (bins * outputs);
  std::vector<double> row(static_cast<size_t>(outputs));
  std::vector<float> trial_in(static_cast<size_t>(bins * outputs));
  for (int64_t n = 0; n < trials; ++n) {
    float* trial = values.data() + n * bins * outputs;
    trial_in.assign(trial, trial + bins * outputs);
    for (int64_t t = 0; t < bins; ++t) {
      const int64_t first = std::max<int64_t>(0, t - radius);
      const int64_t last = causal ? t : std::min(bins - 1, t + radius);
      double total = 0;
      std::fill(row.begin(), row.end(), 0.0);
      for (int64_t s = first; s <= last; ++s) {
        const double w = weight[static_cast<size_t>(std::abs(t - s))];
        total += w;
        for (int64_t c = 0; c < outputs; ++c) row[static_cast<size_t>(c)] += w * trial_in[static_cast<size_t>(s * outputs + c)];
      }
      for (int64_t c = 0; c < outputs; ++c) trial[t * outputs + c] = static_cast<float>(row[static_cast<size_t>(c)] / total);
    }
  }
}

}  // namespace cortex::train
