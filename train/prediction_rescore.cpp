#include "train/prediction_rescore.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string>

#include "engine/error.h"
#include "train/output_smoothing.h"

namespace cortex::train {
namespace {

constexpr const char* kOp = "rescore";

// The shortest decimal that reads back as the same float: JSON holds doubles, and a float
// widened to double prints with 17 digits, twice the file for nothing.
std::vector<double> as_short_decimals(std::vector<float>::const_iterator first, size_t n) {
  std::vector<double> out(n);
  char buf[32];
  for (size_t i = 0; i < n; ++i) {
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, first[static_cast<std::ptrdiff_t>(i)]);
    out[i] = ec == std::errc() ? std::strtod(std::string(buf, end).c_str(), nullptr) : first[static_cast<std::ptrdiff_t>(i)];
  }
  return out;
}

bool close(double a, double b) { return std::abs(a - b) <= 1e-9 * std::max(1.0, std::abs(b)); }

bool same_stats(const R2Stats& a, const R2Stats& b) {
  if (a.rows != b.rows || a.ss_res.size() != b.ss_res.size() || a.sum.size() != b.sum.size()) return false;
  for (size_t c = 0; c < a.ss_res.size(); ++c)
    if (!close(a.ss_res[c], b.ss_res[c]) || !close(a.sum[c], b.sum[c]) || !close(a.sum_sq[c], b.sum_sq[c]))
      return false;
  return true;
}

}  // namespace

nlohmann::json prediction_line(const FoldPredictions& fold, size_t index, const DecodingData& data) {
  const size_t per_trial = static_cast<size_t>(fold.bins * fold.outputs);
  CORTEX_CHECK(index < fold.trials.size() && fold.values.size() == fold.trials.size() * per_trial, kOp,
               "trial ", index, " of a fold of ", fold.trials.size(), " trials and ", fold.values.size(), " values");
  const auto first = fold.values.begin() + static_cast<std::ptrdiff_t>(index * per_trial);
  const auto target = data.labelled.behavior.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(fold.trials[index]) * per_trial);
  return {{"model", fold.model},
          {"protocol", protocol_name(fold.protocol)},
          {"smooth_ms", fold.smooth_ms},
          {"seed", fold.seed},
          {"fold", fold.fold},
          {"trial", fold.trials[index]},
          {"bins", fold.bins},
          {"bin_ms", data.bin_ms()},
          {"outputs", fold.outputs},
          {"prediction", as_short_decimals(first, per_trial)},
          {"target", as_short_decimals(target, per_trial)}};
}

void SavedPredictions::add(const nlohmann::json& line, double default_bin_ms) {
  Trial t;
  try {
    t.trial = line.at("trial").get<int64_t>();
    t.bins = line.at("bins").get<int64_t>();
    t.outputs = line.at("outputs").get<int64_t>();
    t.bin_ms = line.value("bin_ms", default_bin_ms);
    t.states_smooth_ms = line.contains("smooth_ms");
    t.run_smooth_ms = line.value("smooth_ms", 0.0);
    t.prediction = line.at("prediction").get<std::vector<float>>();
    t.target = line.at("target").get<std::vector<float>>();
    CORTEX_CHECK(t.bin_ms > 0, kOp, "a prediction line without bin_ms (trial ", t.trial,
                 "): give the bin width of such lines");
    CORTEX_CHECK(t.bins > 0 && t.outputs > 0 && t.bins <= (int64_t{1} << 30) && t.outputs <= 64 &&
                     t.prediction.size() == static_cast<size_t>(t.bins * t.outputs) &&
                     t.target.size() == t.prediction.size(),
                 kOp, "a prediction line of the wrong size (trial ", t.trial, ")");
    CORTEX_CHECK(std::isfinite(t.run_smooth_ms) && t.run_smooth_ms >= 0, kOp, "a prediction line with smooth_ms ",
                 t.run_smooth_ms, " (trial ", t.trial, ")");
    auto& fold = folds_[{line.at("model").get<std::string>(), line.at("protocol").get<std::string>(),
                         line.at("seed").get<uint64_t>(), line.at("fold").get<int64_t>()}];
    for (const Trial& other : fold)
      CORTEX_CHECK(other.trial != t.trial, kOp, "trial ", t.trial, " of ", line.at("model").get<std::string>(),
                   " seed ", line.at("seed").get<uint64_t>(), " appears twice");
    fold.push_back(std::move(t));
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL(kOp, "malformed prediction line (", e.what(), ")");
  }
}

size_t SavedPredictions::trials() const {
  size_t n = 0;
  for (const auto& [key, fold] : folds_) n += fold.size();
  return n;
}

nlohmann::json SavedPredictions::rescore(const nlohmann::json& record, double sigma_ms) const {
  nlohmann::json out = record;
  try {
    const std::string model = record.at("model").get<std::string>();
    const std::string protocol = record.at("protocol").get<std::string>();
    const double record_smooth_ms = record.value("smooth_ms", 0.0);
    const auto seeds = record.at("seed_values").get<std::vector<uint64_t>>();
    const auto folds = record.at("folds_run").get<std::vector<int64_t>>();
    nlohmann::json stats = nlohmann::json::array(), r2 = nlohmann::json::array(), components = nlohmann::json::array();
    std::vector<double> r2_values;
    for (size_t i = 0; i < seeds.size(); ++i) {
      const R2Stats recorded = r2_stats_from_json(record.at("stats_per_seed").at(i));
      const std::string run = model + " " + protocol + " seed " + std::to_string(seeds[i]);
      const auto outputs = static_cast<int64_t>(recorded.sum.size());
      std::vector<const Trial*> trials;
      for (int64_t fold : folds) {
        const auto it = folds_.find({model, protocol, seeds[i], fold});
        CORTEX_CHECK(it != folds_.end(), kOp, "no predictions for ", run, " fold ", fold,
                     " (pass the predictions file of that run)");
        for (const Trial& t : it->second) {
          CORTEX_CHECK(t.bins == it->second.front().bins, kOp, run, " fold ", fold, ": trial ", t.trial, " has ", t.bins,
                       " bins, trial ", it->second.front().trial, " ", it->second.front().bins);
          CORTEX_CHECK(t.outputs == outputs, kOp, run, " fold ", fold, ": trial ", t.trial, " has ", t.outputs,
                       " outputs; the record has ", outputs);
          CORTEX_CHECK(t.run_smooth_ms == record_smooth_ms, kOp, run, " fold ", fold,
                       ": the predictions come from a run scored at smooth_ms ", t.run_smooth_ms, ", the record at ",
                       record_smooth_ms,
                       t.states_smooth_ms ? std::string()
                                          : std::string(" (these lines do not state smooth_ms: builds before they "
                                                        "did saved smoothed predictions unmarked)"));
          trials.push_back(&t);
        }
      }
      auto stats_at = [&](double sigma) {
        R2Accumulator acc(outputs);
        for (const Trial* t : trials) {
          std::vector<float> p = t->prediction;
          smooth_predictions(p, t->bins, t->outputs, sigma / t->bin_ms, protocol == "causal");
          acc.add(p.data(), t->target.data(), t->bins);
        }
        return acc.stats();
      };
      CORTEX_CHECK(same_stats(stats_at(record_smooth_ms), recorded), kOp, run, " folds ", nlohmann::json(folds).dump(),
                   ": the predictions do not reproduce the recorded R^2 statistics (predictions of another run?)");
      const R2Stats s = stats_at(sigma_ms);
      const R2Score score = s.score();
      stats.push_back(r2_stats_json(s));
      r2.push_back(score.mean);
      components.push_back(score.per_component);
      r2_values.push_back(score.mean);
    }
    const MeanStd ms = mean_std(r2_values);
    out["stats_per_seed"] = stats;
    out["r2_per_seed"] = r2;
    out["r2_components_per_seed"] = components;
    out["r2_mean"] = ms.mean;
    out["r2_std"] = ms.std;
    out["smooth_ms"] = sigma_ms;
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL(kOp, "malformed eval-protocol record (", e.what(), ")");
  }
  return out;
}

}  // namespace cortex::train
