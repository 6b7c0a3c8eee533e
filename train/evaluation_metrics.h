#pragma once
// Scores of the decoding protocol: the coefficient of determination per output component
// over pooled rows, and mean ± std across seeds.
#include <cstdint>
#include <vector>

namespace cortex::train {

// Predictions and targets pooled over every scored bin; row-major [rows, components].
struct R2Score {
  std::vector<double> per_component;  // 1 - SS_res / SS_tot, each about its own pooled mean
  double mean = 0.0;                  // uniform average over components
};
// Throws on size mismatches, no rows, non-finite values, or a component whose target
// never varies (R^2 is undefined there).
R2Score r2_score(const std::vector<float>& pred, const std::vector<float>& target, int64_t components);

// Sufficient statistics of R^2 per component, so scores of rows held in different places
// (folds run by different processes) can be pooled exactly: SS_tot = sum_sq - sum^2 / n.
struct R2Stats {
  int64_t rows = 0;
  std::vector<double> sum, sum_sq, ss_res;  // of the target, its square, and (target - pred)^2
  void merge(const R2Stats& other);
  R2Score score() const;
};

// Collects (prediction, target) rows from several trials or folds before scoring.
class R2Accumulator {
 public:
  explicit R2Accumulator(int64_t components);
  // `rows` rows of `components` values each.
  void add(const float* pred, const float* target, int64_t rows);
  int64_t rows() const;
  R2Score score() const;
  R2Stats stats() const;

 private:
  int64_t components_;
  std::vector<float> pred_, target_;
};

struct MeanStd {
  double mean = 0.0;
  double std = 0.0;  // sample standard deviation (n - 1); 0 for a single value
  int64_t n = 0;
};
MeanStd mean_std(const std::vector<double>& values);

}  // namespace cortex::train
