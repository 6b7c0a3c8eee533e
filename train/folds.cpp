#include "train/folds.h"

#include "engine/error.h"

namespace cortex::train {

int64_t fold_of(int64_t trial, int64_t num_folds) {
  CORTEX_CHECK(num_folds >= 1, "fold_of", "num_folds must be >= 1, got ", num_folds);
  CORTEX_CHECK(trial >= 0, "fold_of", "trial index must be >= 0, got ", trial);
  return trial % num_folds;
}

FoldSplit fold_split(int64_t num_trials, int64_t fold, int64_t num_folds) {
  CORTEX_CHECK(num_folds >= 2, "fold_split", "need at least 2 folds, got ", num_folds);
  CORTEX_CHECK(fold >= 0 && fold < num_folds, "fold_split", "fold ", fold, " is outside [0, ", num_folds, ")");
  CORTEX_CHECK(num_trials >= num_folds, "fold_split", num_trials, " trials cannot fill ", num_folds, " folds");
  FoldSplit split;
  for (int64_t t = 0; t < num_trials; ++t) (fold_of(t, num_folds) == fold ? split.test : split.train).push_back(t);
  return split;
}

}  // namespace cortex::train
