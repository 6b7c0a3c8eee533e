#pragma once
// Eval-protocol records of one run (its model label and protocol) pooled per seed: each
// seed's R^2 statistics summed over the folds that separate processes ran. A seed's fold
// added twice is refused, so a pooled R^2 never counts a held-out trial twice.
#include <cstdint>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "train/evaluation_metrics.h"

namespace cortex::train {

class SeedPool {
 public:
  // `run` names the pool in error messages ("cortex-s noncausal").
  explicit SeedPool(std::string run) : run_(std::move(run)) {}

  // Adds every seed of `record` (its seed_values, folds_run and stats_per_seed).
  void add(const nlohmann::json& record);

  const std::map<uint64_t, R2Stats>& stats() const { return stats_; }
  const std::map<uint64_t, std::set<int64_t>>& folds() const { return folds_; }

 private:
  std::string run_;
  std::map<uint64_t, R2Stats> stats_;
  std::map<uint64_t, std::set<int64_t>> folds_;
};

}  // namespace cortex::train
