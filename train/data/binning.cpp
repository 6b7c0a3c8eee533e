#include "train/data/binning.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "engine/error.h"

namespace cortex::data {
namespace {

constexpr double kEdgeTolerance = 1e-9;  // in bins

void check_grid(const char* op, double t0, double bin_s, int64_t bins) {
  CORTEX_CHECK(std::isfinite(t0), op, "t0 must be finite");
  CORTEX_CHECK(bin_s > 0 && std::isfinite(bin_s), op, "bin_s must be positive, got ", bin_s);
  CORTEX_CHECK(bins >= 0, op, "bins must be >= 0, got ", bins);
}

}  // namespace

void bin_spikes(const Recording& rec, const std::vector<int64_t>& unit_indices, double t0, double bin_s,
                int64_t bins, float* out) {
  check_grid("bin_spikes", t0, bin_s, bins);
  const size_t width = unit_indices.size();
  std::fill(out, out + static_cast<size_t>(bins) * width, 0.0f);
  const double t1 = t0 + static_cast<double>(bins) * bin_s;
  for (size_t j = 0; j < width; ++j) {
    const int64_t u = unit_indices[j];
    CORTEX_CHECK(u >= 0 && u < static_cast<int64_t>(rec.units.size()), "bin_spikes", "unit index ", u,
                 " out of range for ", rec.units.size(), " units");
    const auto& times = rec.units[static_cast<size_t>(u)].spike_times;
    // Start one bin early so spikes a rounding error before t0 are still considered.
    auto it = std::lower_bound(times.begin(), times.end(), t0 - bin_s);
    for (; it != times.end() && *it < t1 + bin_s; ++it) {
      const double b = std::floor((*it - t0) / bin_s + kEdgeTolerance);
      if (b < 0 || b >= static_cast<double>(bins)) continue;
      out[static_cast<size_t>(b) * width + j] += 1.0f;
    }
  }
}

void resample_behavior(const BehaviorSeries& s, double t0, double bin_s, int64_t bins, float* out) {
  check_grid("resample_behavior", t0, bin_s, bins);
  const auto& ts = s.timestamps;
  const size_t ch = static_cast<size_t>(s.channels);
  CORTEX_CHECK(s.data.size() == ts.size() * ch, "resample_behavior", "series '", s.name, "' has ", s.data.size(),
               " values for ", ts.size(), " timestamps x ", ch, " channels");
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (int64_t b = 0; b < bins; ++b) {
    float* row = out + static_cast<size_t>(b) * ch;
    const double lo = t0 + static_cast<double>(b) * bin_s, hi = lo + bin_s;
    const auto first = std::lower_bound(ts.begin(), ts.end(), lo);
    const auto last = std::lower_bound(first, ts.end(), hi);
    if (last > first) {
      const size_t i0 = static_cast<size_t>(first - ts.begin()), i1 = static_cast<size_t>(last - ts.begin());
      for (size_t c = 0; c < ch; ++c) {
        double sum = 0;
        for (size_t i = i0; i < i1; ++i) sum += s.data[i * ch + c];
        row[c] = static_cast<float>(sum / static_cast<double>(i1 - i0));
      }
      continue;
    }
    const double centre = lo + 0.5 * bin_s;
    if (ts.empty() || centre < ts.front() || centre > ts.back()) {
      std::fill(row, row + ch, nan);
      continue;
    }
    const size_t k = static_cast<size_t>(std::upper_bound(ts.begin(), ts.end(), centre) - ts.begin());
    const size_t k0 = k == 0 ? 0 : k - 1, k1 = std::min(k, ts.size() - 1);
    const double span = ts[k1] - ts[k0];
    const double w = span > 0 ? (centre - ts[k0]) / span : 0.0;
    for (size_t c = 0; c < ch; ++c)
      row[c] = static_cast<float>(s.data[k0 * ch + c] + w * (s.data[k1 * ch + c] - s.data[k0 * ch + c]));
  }
}

BinnedCounts bin_recording(const Recording& rec, double bin_s) {
  CORTEX_CHECK(bin_s > 0 && std::isfinite(bin_s), "bin_recording", "bin_s must be positive, got ", bin_s);
  BinnedCounts out;
  out.bin_s = bin_s;
  out.units = static_cast<int64_t>(rec.units.size());
  out.t0 = std::floor(rec.t_start() / bin_s) * bin_s;
  out.bins = static_cast<int64_t>(std::floor((rec.t_stop() - out.t0) / bin_s + kEdgeTolerance)) + 1;
  std::vector<int64_t> all(rec.units.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = static_cast<int64_t>(i);
  out.counts.resize(static_cast<size_t>(out.bins * out.units));
  bin_spikes(rec, all, out.t0, bin_s, out.bins, out.counts.data());
  return out;
}

}  // namespace cortex::data
