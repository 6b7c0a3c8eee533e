#include "train/trainer_augment.h"

#include <algorithm>
#include <cmath>

#include "engine/error.h"
#include "engine/philox.h"

namespace cortex::train {

int32_t thin_count(int32_t count, double p, uint64_t seed, uint64_t sample, uint64_t cell) {
  if (p <= 0.0 || count <= 0) return count;
  // Up to 16 spikes per cell get their own draw (cells hold 0-2 spikes in 5 ms bins).
  int32_t kept = 0;
  for (int32_t k = 0; k < count; ++k)
    if (philox::uniform(seed, sample, cell * 16 + static_cast<uint64_t>(k % 16)) >= p) ++kept;
  return kept;
}

void thin_counts(float* counts, int64_t n, double p, uint64_t seed, uint64_t sample) {
  CORTEX_CHECK(p >= 0.0 && p < 1.0, "thin_counts", "dropout probability must lie in [0, 1), got ", p);
  if (p == 0.0) return;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t c = static_cast<int32_t>(std::lround(counts[i]));
    counts[i] = static_cast<float>(thin_count(c, p, seed, sample, static_cast<uint64_t>(i)));
  }
}

namespace {
// Counters far above any cell index thin_count uses (cells * 16 < 2^62).
constexpr uint64_t kCropCounter = uint64_t{1} << 62;
constexpr uint64_t kShiftCounter = kCropCounter + 2;
}  // namespace

BinRange random_crop(int64_t bins, int64_t min_bins, uint64_t seed, uint64_t sample) {
  CORTEX_CHECK(bins > 0, "random_crop", "a trial needs at least one bin, got ", bins);
  if (min_bins <= 0 || min_bins >= bins) return {0, bins - 1};
  const auto pick = [](float u, int64_t choices) {
    return std::min<int64_t>(choices - 1, static_cast<int64_t>(static_cast<double>(u) * static_cast<double>(choices)));
  };
  const int64_t length = min_bins + pick(philox::uniform(seed, sample, kCropCounter), bins - min_bins + 1);
  const int64_t first = pick(philox::uniform(seed, sample, kCropCounter + 1), bins - length + 1);
  return {first, first + length - 1};
}

double random_in(double lo, double hi, uint64_t seed, uint64_t sample) {
  if (!(hi > lo)) return lo;
  return lo + static_cast<double>(philox::uniform(seed, sample, kShiftCounter)) * (hi - lo);
}

}  // namespace cortex::train
