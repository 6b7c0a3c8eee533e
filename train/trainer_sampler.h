#pragma once
// The order in which a training phase visits its samples: a fresh permutation per epoch,
// derived from (seed, epoch) alone, so the position (epoch, cursor) is all a checkpoint
// needs to continue the exact same sequence.
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

namespace cortex::train {

class EpochSampler {
 public:
  // `num_samples` >= 1 samples, shuffled with `seed`.
  EpochSampler(int64_t num_samples, uint64_t seed);
  // The next `batch` sample ids; an epoch boundary inside a batch continues into the next
  // epoch's permutation.
  std::vector<int64_t> next(int64_t batch);

  int64_t epoch() const { return epoch_; }
  int64_t cursor() const { return cursor_; }
  int64_t num_samples() const { return n_; }

  // {"epoch", "cursor", "num_samples", "seed"}; restoring checks the sample count and seed match.
  nlohmann::json state() const;
  void load_state(const nlohmann::json& state);

  // The permutation of one epoch (pure function of seed and epoch).
  static std::vector<int64_t> permutation(int64_t num_samples, uint64_t seed, int64_t epoch);

 private:
  int64_t n_;
  uint64_t seed_;
  int64_t epoch_ = 0, cursor_ = 0;
  std::vector<int64_t> order_;
};

}  // namespace cortex::train
