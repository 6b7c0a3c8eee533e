#include "train/evaluation_metrics.h"

#include <cmath>

#include "engine/error.h"

namespace cortex::train {

R2Score r2_score(const std::vector<float>& pred, const std::vector<float>& target, int64_t components) {
  CORTEX_CHECK(components >= 1, "r2_score", "components must be >= 1, got ", components);
  CORTEX_CHECK(pred.size() == target.size(), "r2_score", "prediction has ", pred.size(), " values but target has ",
               target.size());
  CORTEX_CHECK(!pred.empty() && pred.size() % static_cast<size_t>(components) == 0, "r2_score", pred.size(),
               " values do not form rows of ", components, " components (need at least one row)");
  const int64_t rows = static_cast<int64_t>(pred.size()) / components;
  R2Score score;
  for (int64_t c = 0; c < components; ++c) {
    // Accumulated in double: tens of thousands of rows of f32 would lose digits otherwise.
    double mean = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const double p = pred[r * components + c], t = target[r * components + c];
      CORTEX_CHECK(std::isfinite(p) && std::isfinite(t), "r2_score", "non-finite value in row ", r, " component ", c,
                   " (prediction ", p, ", target ", t, ")");
      mean += t;
    }
    mean /= static_cast<double>(rows);
    double ss_res = 0.0, ss_tot = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const double p = pred[r * components + c], t = target[r * components + c];
      ss_res += (t - p) * (t - p);
      ss_tot += (t - mean) * (t - mean);
    }
    CORTEX_CHECK(ss_tot > 0.0, "r2_score", "target component ", c, " is constant over ", rows,
                 " rows; R^2 is undefined");
    score.per_component.push_back(1.0 - ss_res / ss_tot);
  }
  double sum = 0.0;
  for (double v : score.per_component) sum += v;
  score.mean = sum / static_cast<double>(components);
  return score;
}

R2Accumulator::R2Accumulator(int64_t components) : components_(components) {
  CORTEX_CHECK(components >= 1, "R2Accumulator", "components must be >= 1, got ", components);
}

void R2Accumulator::add(const float* pred, const float* target, int64_t rows) {
  CORTEX_CHECK(rows >= 0, "R2Accumulator::add", "negative row count ", rows);
  const size_t n = static_cast<size_t>(rows * components_);
  pred_.insert(pred_.end(), pred, pred + n);
  target_.insert(target_.end(), target, target + n);
}

int64_t R2Accumulator::rows() const { return static_cast<int64_t>(pred_.size()) / components_; }

R2Score R2Accumulator::score() const { return r2_score(pred_, target_, components_); }

R2Stats R2Accumulator::stats() const {
  R2Stats s;
  s.rows = rows();
  s.sum.assign(static_cast<size_t>(components_), 0.0);
  s.sum_sq = s.sum;
  s.ss_res = s.sum;
  for (int64_t r = 0; r < s.rows; ++r)
    for (int64_t c = 0; c < components_; ++c) {
      const double t = target_[static_cast<size_t>(r * components_ + c)];
      const double p = pred_[static_cast<size_t>(r * components_ + c)];
      s.sum[c] += t;
      s.sum_sq[c] += t * t;
      s.ss_res[c] += (t - p) * (t - p);
    }
  return s;
}

void R2Stats::merge(const R2Stats& o) {
  if (rows == 0 && sum.empty()) {
    *this = o;
    return;
  }
  CORTEX_CHECK(o.sum.size() == sum.size(), "R2Stats::merge", "cannot pool ", sum.size(), " components with ",
               o.sum.size());
  rows += o.rows;
  for (size_t c = 0; c < sum.size(); ++c) {
    sum[c] += o.sum[c];
    sum_sq[c] += o.sum_sq[c];
    ss_res[c] += o.ss_res[c];
  }
}

R2Score R2Stats::score() const {
  CORTEX_CHECK(rows > 0 && !sum.empty(), "R2Stats::score", "no rows to score");
  R2Score out;
  for (size_t c = 0; c < sum.size(); ++c) {
    const double ss_tot = sum_sq[c] - sum[c] * sum[c] / static_cast<double>(rows);
    CORTEX_CHECK(ss_tot > 0.0, "R2Stats::score", "target component ", c, " is constant; R^2 is undefined");
    out.per_component.push_back(1.0 - ss_res[c] / ss_tot);
  }
  double total = 0;
  for (double v : out.per_component) total += v;
  out.mean = total / static_cast<double>(out.per_component.size());
  return out;
}

MeanStd mean_std(const std::vector<double>& values) {
  MeanStd out;
  out.n = static_cast<int64_t>(values.size());
  if (values.empty()) return out;
  for (double v : values) out.mean += v;
  out.mean /= static_cast<double>(values.size());
  if (values.size() > 1) {
    double ss = 0.0;
    for (double v : values) ss += (v - out.mean) * (v - out.mean);
    out.std = std::sqrt(ss / static_cast<double>(values.size() - 1));
  }
  return out;
}

}  // namespace cortex::train
