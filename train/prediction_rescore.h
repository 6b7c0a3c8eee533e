#pragma once
// Held-out predictions saved by eval-protocol --predictions (one JSON line per trial, raw
// values even where the run was scored smoothed) and the R^2 of a recorded run recomputed
// from them, smoothed at another width, without retraining. A record is rescored only from
// predictions that reproduce its recorded statistics at its own width, so a rescored row is
// that run and nothing else.
#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <nlohmann/json.hpp>

#include "train/evaluation_protocol.h"

namespace cortex::train {

// The line of trial `index` of a fold's predictions (its target taken from `data`).
nlohmann::json prediction_line(const FoldPredictions& fold, size_t index, const DecodingData& data);

class SavedPredictions {
 public:
  // Adds a prediction line; `default_bin_ms` serves lines that lack bin_ms (0: such a line
  // is an error). Malformed lines, and a trial seen twice for one run, seed and fold, throw.
  void add(const nlohmann::json& line, double default_bin_ms = 0);
  size_t trials() const;

  // `record` (an eval-protocol result line) with its statistics, R^2 and smooth_ms
  // recomputed from these predictions smoothed by sigma_ms (causal records: the causal
  // kernel). Throws when a fold of the record has no predictions, when the predictions are
  // of another size or were saved by a run of another width, or when, smoothed at the
  // record's own width, they do not reproduce its statistics.
  nlohmann::json rescore(const nlohmann::json& record, double sigma_ms) const;

 private:
  struct Trial {
    int64_t trial = 0, bins = 0, outputs = 0;
    double bin_ms = 0;
    double run_smooth_ms = 0;  // the width its run was scored at (lines before it was saved: 0)
    bool states_smooth_ms = false;
    std::vector<float> prediction, target;
  };
  // (model label, protocol, seed, fold)
  std::map<std::tuple<std::string, std::string, uint64_t, int64_t>, std::vector<Trial>> folds_;
};

}  // namespace cortex::train
