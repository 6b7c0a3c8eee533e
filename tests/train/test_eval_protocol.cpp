// The decoding protocol end to end on synthetic trials with the closed-form Wiener filter
// (fast, no seed dependence): every labelled trial is held out exactly once, in fold
// (trial mod 5); the pooled R^2 is the R^2 of the predictions handed to on_predictions;
// a run of some folds scores those folds only.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "engine/error.h"
#include "train/evaluation_protocol.h"
#include "train/output_smoothing.h"
#include "train/prediction_rescore.h"

using namespace cortex;
using namespace cortex::train;

namespace {

TrainerConfig wiener_config() {
  TrainerConfig c = TrainerConfig::from_yaml(
      "model: wiener\nname: wiener-tiny\nunits: 1\nlags: 4\nfolds: 3\nlambdas: [0.01, 1.0]\n", "test model");
  c.set("data", "synthetic");
  c.set("run.name", "wiener-tiny");
  c.set("synthetic.units", "24");
  c.set("synthetic.trials", "23");  // not a multiple of 5: folds of 5 and 4 trials
  return c;
}

const DecodingData& data_of(const TrainerConfig& c) {
  static const DecodingData data = load_decoding_data(c);
  return data;
}

ProtocolOptions noncausal_seed0() {
  ProtocolOptions options;
  options.protocol = Protocol::noncausal;
  options.seeds = {0};
  return options;
}

}  // namespace

TEST_CASE("the protocol holds out every trial once, in fold trial mod 5, and scores what it predicts") {
  const TrainerConfig config = wiener_config();
  const DecodingData& data = data_of(config);
  for (Protocol protocol : {Protocol::causal, Protocol::noncausal}) {
    const std::string protocol_label = protocol_name(protocol);
    CAPTURE(protocol_label);
    ProtocolOptions options;
    options.protocol = protocol;
    options.seeds = {0};
    std::vector<FoldPredictions> seen;
    options.on_predictions = [&](const FoldPredictions& p) { seen.push_back(p); };
    const ProtocolResult result = run_protocol(config, data, options);

    REQUIRE(seen.size() == 5);
    std::map<int64_t, int64_t> fold_of_trial;
    R2Accumulator rescored(data.outputs());
    for (const FoldPredictions& p : seen) {
      CHECK(p.seed == 0);
      CHECK(p.bins == data.labelled.bins);
      CHECK(p.outputs == data.outputs());
      REQUIRE(p.values.size() == p.trials.size() * static_cast<size_t>(p.bins * p.outputs));
      const size_t per_trial = static_cast<size_t>(p.bins * p.outputs);
      for (size_t i = 0; i < p.trials.size(); ++i) {
        CHECK(fold_of_trial.emplace(p.trials[i], p.fold).second);
        CHECK(p.trials[i] % 5 == p.fold);
        rescored.add(p.values.data() + i * per_trial,
                     data.labelled.behavior.data() + static_cast<size_t>(p.trials[i]) * per_trial, p.bins);
      }
    }
    CHECK(static_cast<int64_t>(fold_of_trial.size()) == data.labelled.samples());
    const R2Score s = rescored.score();
    CHECK(s.mean == doctest::Approx(result.r2.mean).epsilon(1e-12));
    CHECK(s.mean > 0.0);  // the units are tuned to velocity: even this tiny filter beats the mean
    CHECK(result.folds_run == std::vector<int64_t>{0, 1, 2, 3, 4});
  }
}

TEST_CASE("a protocol run of some folds predicts and scores those folds only") {
  const TrainerConfig config = wiener_config();
  const DecodingData& data = data_of(config);
  ProtocolOptions options = noncausal_seed0();
  options.only_folds = {3, 1};
  std::set<int64_t> folds;
  int64_t trials = 0;
  options.on_predictions = [&](const FoldPredictions& p) {
    folds.insert(p.fold);
    trials += static_cast<int64_t>(p.trials.size());
  };
  const ProtocolResult result = run_protocol(config, data, options);
  CHECK(folds == std::set<int64_t>{1, 3});
  CHECK(result.folds_run == std::vector<int64_t>{1, 3});
  CHECK(result.stats_per_seed.at(0).rows == trials * data.labelled.bins);

  options.only_folds = {5};
  CHECK_THROWS_AS(run_protocol(config, data, options), Error);
}

TEST_CASE("predict.smooth_ms smooths what the protocol scores and hands on, and is recorded") {
  TrainerConfig config = wiener_config();
  const DecodingData& data = data_of(config);
  ProtocolOptions options = noncausal_seed0();
  std::vector<FoldPredictions> raw, smoothed;
  options.on_predictions = [&](const FoldPredictions& p) { raw.push_back(p); };
  const ProtocolResult raw_result = run_protocol(config, data, options);
  config.set("predict.smooth_ms", "12.5");
  options.on_predictions = [&](const FoldPredictions& p) { smoothed.push_back(p); };
  const ProtocolResult smoothed_result = run_protocol(config, data, options);

  CHECK(raw_result.smooth_ms == 0);
  CHECK(smoothed_result.smooth_ms == 12.5);
  CHECK(smoothed_result.to_json().at("smooth_ms").get<double>() == 12.5);
  REQUIRE(raw.size() == smoothed.size());
  R2Accumulator rescored(data.outputs());
  for (size_t f = 0; f < raw.size(); ++f) {
    std::vector<float> expected = raw[f].values;
    smooth_predictions(expected, raw[f].bins, raw[f].outputs, 12.5 / data.bin_ms(), false);
    REQUIRE(smoothed[f].values.size() == expected.size());
    for (size_t i = 0; i < expected.size(); ++i) REQUIRE(smoothed[f].values[i] == doctest::Approx(expected[i]));
    CHECK(smoothed[f].values != raw[f].values);
    const size_t per_trial = static_cast<size_t>(raw[f].bins * raw[f].outputs);
    for (size_t i = 0; i < raw[f].trials.size(); ++i)
      rescored.add(smoothed[f].values.data() + i * per_trial,
                   data.labelled.behavior.data() + static_cast<size_t>(raw[f].trials[i]) * per_trial, raw[f].bins);
  }
  CHECK(rescored.score().mean == doctest::Approx(smoothed_result.r2.mean).epsilon(1e-12));
  CHECK(smoothed_result.r2.mean != raw_result.r2.mean);
}

TEST_CASE("saved predictions rescore a record exactly, smoothed like predict.smooth_ms, and refuse others") {
  TrainerConfig config = wiener_config();
  const DecodingData& data = data_of(config);
  ProtocolOptions options = noncausal_seed0();
  options.only_folds = {0, 2};
  const std::string label = "w";  // the run's name in records and prediction lines
  SavedPredictions saved;
  std::vector<nlohmann::json> lines;
  options.on_predictions = [&](const FoldPredictions& p) {
    for (size_t i = 0; i < p.trials.size(); ++i) lines.push_back(prediction_line(label, "noncausal", p, i, data));
  };
  ProtocolResult raw = run_protocol(config, data, options);
  raw.model = label;
  for (const auto& line : lines) saved.add(nlohmann::json::parse(line.dump()));  // through text, as from a file
  CHECK(saved.trials() == lines.size());

  const nlohmann::json same = saved.rescore(raw.to_json(), 0.0);
  CHECK(same["r2_mean"].get<double>() == doctest::Approx(raw.r2.mean).epsilon(1e-12));

  config.set("predict.smooth_ms", "15");
  options.on_predictions = nullptr;
  ProtocolResult smoothed = run_protocol(config, data, options);
  smoothed.model = label;
  const nlohmann::json rescored = saved.rescore(raw.to_json(), 15.0);
  CHECK(rescored["smooth_ms"].get<double>() == 15.0);
  CHECK(rescored["r2_mean"].get<double>() == doctest::Approx(smoothed.r2.mean).epsilon(1e-9));
  const R2Stats a = r2_stats_from_json(rescored["stats_per_seed"][0]), b = smoothed.stats_per_seed[0];
  for (size_t c = 0; c < a.ss_res.size(); ++c) CHECK(a.ss_res[c] == doctest::Approx(b.ss_res[c]).epsilon(1e-9));

  CHECK_THROWS_AS(saved.rescore(smoothed.to_json(), 15.0), Error);  // already smoothed
  nlohmann::json other_folds = raw.to_json();
  other_folds["folds_run"] = {0, 1};
  CHECK_THROWS_AS(saved.rescore(other_folds, 0.0), Error);  // fold 1 was not saved
  nlohmann::json other_run = raw.to_json();
  other_run["stats_per_seed"][0]["ss_res"][0] = other_run["stats_per_seed"][0]["ss_res"][0].get<double>() * 1.01;
  CHECK_THROWS_AS(saved.rescore(other_run, 0.0), Error);  // predictions that do not reproduce the record
  CHECK_THROWS_AS(saved.add(lines.front()), Error);       // a trial twice
  nlohmann::json no_bin = lines.front();
  no_bin.erase("bin_ms");
  no_bin["fold"] = 4;
  CHECK_THROWS_AS(saved.add(no_bin), Error);
  saved.add(no_bin, 5.0);
  nlohmann::json short_line = lines.back();
  short_line["fold"] = 3;
  short_line["prediction"].erase(0);
  CHECK_THROWS_AS(saved.add(short_line), Error);
}
