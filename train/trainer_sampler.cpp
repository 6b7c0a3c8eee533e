#include "train/trainer_sampler.h"

#include <algorithm>
#include <numeric>

#include "engine/error.h"
#include "engine/philox.h"

namespace cortex::train {

std::vector<int64_t> EpochSampler::permutation(int64_t num_samples, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<size_t>(num_samples));
  std::iota(order.begin(), order.end(), 0);
  // Fisher-Yates with Philox words of stream `epoch`: no generator state to carry around.
  // The offset keeps these streams apart from the model's random ops under the same seed.
  const uint64_t stream = (uint64_t{1} << 62) + static_cast<uint64_t>(epoch);
  for (int64_t i = num_samples - 1; i > 0; --i) {
    const uint64_t hi = philox::word(seed, stream, 2 * static_cast<uint64_t>(i));
    const uint64_t lo = philox::word(seed, stream, 2 * static_cast<uint64_t>(i) + 1);
    const uint64_t r = ((hi << 32) | lo) % static_cast<uint64_t>(i + 1);
    std::swap(order[static_cast<size_t>(i)], order[r]);
  }
  return order;
}

EpochSampler::EpochSampler(int64_t num_samples, uint64_t seed) : n_(num_samples), seed_(seed) {
  CORTEX_CHECK(num_samples >= 1, "EpochSampler", "needs at least one sample, got ", num_samples);
  order_ = permutation(n_, seed_, 0);
}

std::vector<int64_t> EpochSampler::next(int64_t batch) {
  CORTEX_CHECK(batch >= 1, "EpochSampler::next", "batch must be >= 1, got ", batch);
  std::vector<int64_t> ids;
  ids.reserve(static_cast<size_t>(batch));
  while (static_cast<int64_t>(ids.size()) < batch) {
    if (cursor_ == n_) {
      ++epoch_;
      cursor_ = 0;
      order_ = permutation(n_, seed_, epoch_);
    }
    ids.push_back(order_[static_cast<size_t>(cursor_++)]);
  }
  return ids;
}

nlohmann::json EpochSampler::state() const {
  return {{"epoch", epoch_}, {"cursor", cursor_}, {"num_samples", n_}, {"seed", seed_}};
}

void EpochSampler::load_state(const nlohmann::json& state) {
  try {
    const int64_t n = state.at("num_samples").get<int64_t>();
    const uint64_t seed = state.at("seed").get<uint64_t>();
    const int64_t epoch = state.at("epoch").get<int64_t>();
    const int64_t cursor = state.at("cursor").get<int64_t>();
    CORTEX_CHECK(n == n_, "EpochSampler::load_state", "checkpoint was made over ", n,
                 " samples but this data has ", n_, " (different data or config?)");
    CORTEX_CHECK(seed == seed_, "EpochSampler::load_state", "checkpoint used data seed ", seed, " but this run uses ",
                 seed_);
    CORTEX_CHECK(epoch >= 0 && cursor >= 0 && cursor <= n_, "EpochSampler::load_state", "bad position epoch ", epoch,
                 " cursor ", cursor);
    epoch_ = epoch;
    cursor_ = cursor;
    order_ = permutation(n_, seed_, epoch_);
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL("EpochSampler::load_state", "malformed sampler state ", state.dump(), " (", e.what(), ")");
  }
}

}  // namespace cortex::train
