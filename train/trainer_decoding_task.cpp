#include "train/trainer_decoding_task.h"

#include <cmath>

#include "engine/error.h"
#include "train/output_smoothing.h"

namespace cortex::train {

const char* protocol_name(Protocol p) { return p == Protocol::causal ? "causal" : "noncausal"; }

Protocol protocol_from_name(const std::string& name) {
  if (name == "causal") return Protocol::causal;
  if (name == "noncausal" || name == "non-causal") return Protocol::noncausal;
  CORTEX_FAIL("protocol", "unknown protocol '", name, "' (expected causal or noncausal)");
}

DecodingTask::DecodingTask(const FoldData& fold, Protocol protocol) : fold_(fold), protocol_(protocol) {
  CORTEX_CHECK(fold.data != nullptr && !fold.train_trials.empty(), "DecodingTask", "the fold has no training trials");
}

std::vector<float> DecodingTask::scaled_targets(int64_t trial) const {
  const auto& set = fold_.data->labelled;
  const int64_t bins = set.bins, c_n = set.behavior_dims;
  std::vector<float> out(static_cast<size_t>(bins * c_n));
  for (int64_t b = 0; b < bins; ++b)
    for (int64_t c = 0; c < c_n; ++c) {
      const size_t i = static_cast<size_t>(b * c_n + c);
      out[i] = static_cast<float>(fold_.scaling.normalise(set.behavior[static_cast<size_t>(trial * bins * c_n) + i], c));
    }
  return out;
}

std::vector<float> DecodingTask::score_held_out(R2Accumulator& acc) {
  if (fold_.test_trials.empty()) return {};
  const auto& set = fold_.data->labelled;
  std::vector<float> pred = predict(set, fold_.test_trials);
  const int64_t per_trial = set.bins * set.behavior_dims;
  CORTEX_CHECK(static_cast<int64_t>(pred.size()) == per_trial * static_cast<int64_t>(fold_.test_trials.size()),
               "DecodingTask::score_held_out", "predict returned ", pred.size(), " values for ", fold_.test_trials.size(),
               " trials of ", per_trial);
  std::vector<float> scored = pred;
  smooth_predictions(scored, set.bins, set.behavior_dims, smooth_ms_ / fold_.data->bin_ms(), protocol_ == Protocol::causal);
  for (size_t i = 0; i < fold_.test_trials.size(); ++i)
    acc.add(scored.data() + i * static_cast<size_t>(per_trial),
            set.behavior.data() + static_cast<size_t>(fold_.test_trials[i] * per_trial), set.bins);
  return pred;
}

void DecodingTask::set_output_smoothing(double sigma_ms) {
  CORTEX_CHECK(std::isfinite(sigma_ms) && sigma_ms >= 0, "DecodingTask", "output smoothing must be >= 0 ms, got ",
               sigma_ms);
  smooth_ms_ = sigma_ms;
}

nlohmann::json DecodingTask::evaluate(Phase phase) {
  if (phase != Phase::finetune || fold_.test_trials.empty()) return nlohmann::json::object();
  R2Accumulator acc(fold_.data->outputs());
  score_held_out(acc);
  const R2Score s = acc.score();
  nlohmann::json out = {{"r2", s.mean}, {"protocol", protocol_name(protocol_)}};
  const char* names[] = {"r2_x", "r2_y", "r2_z"};
  for (size_t c = 0; c < s.per_component.size(); ++c)
    out[c < 3 ? names[c] : "r2_" + std::to_string(c)] = s.per_component[c];
  return out;
}

nn::Metadata DecodingTask::common_metadata() const {
  const auto& d = *fold_.data;
  return {{"output_scaling", fold_.scaling.to_json()},
          {"protocol", protocol_name(protocol_)},
          {"units", std::to_string(d.units())},
          {"bin_ms", std::to_string(d.bin_ms())},
          {"trial_bins", std::to_string(d.bins())},
          {"data", d.description}};
}

}  // namespace cortex::train
