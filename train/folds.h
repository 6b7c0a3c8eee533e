#pragma once
// Cross-validation folds of the evaluation protocol: trial i belongs to fold i mod k.
#include <cstdint>
#include <vector>

namespace cortex::train {

int64_t fold_of(int64_t trial, int64_t num_folds);

struct FoldSplit {
  std::vector<int64_t> train;  // trials of every other fold, ascending
  std::vector<int64_t> test;   // trials of this fold, ascending
};
// Trials 0 .. num_trials-1 split for held-out fold `fold`. Throws on num_folds < 2,
// fold outside [0, num_folds) or fewer trials than folds.
FoldSplit fold_split(int64_t num_trials, int64_t fold, int64_t num_folds);

}  // namespace cortex::train
