// The decoding protocol end to end on synthetic trials with the closed-form Wiener filter
// (fast, no seed dependence): every labelled trial is held out exactly once, in fold
// (trial mod 5); the pooled R^2 is the R^2 of the predictions handed to on_predictions;
// a run of some folds scores those folds only.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <set>

#include "engine/error.h"
#include "train/evaluation_protocol.h"
#include "train/output_smoothing.h"
#include "train/prediction_rescore.h"
#include "train/seed_pool.h"

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

// The data of wiener_config(), loaded once: every test changes only model or trainer keys.
const DecodingData& synthetic_data() {
  static const DecodingData data = load_decoding_data(wiener_config());
  return data;
}

ProtocolOptions seed0(Protocol protocol = Protocol::noncausal, std::string label = {}) {
  ProtocolOptions options;
  options.protocol = protocol;
  options.seeds = {0};
  options.label = std::move(label);
  return options;
}

// A run's prediction lines through text, as a file holds them.
std::function<void(const FoldPredictions&)> save_into(SavedPredictions& saved, const DecodingData& data) {
  return [&saved, &data](const FoldPredictions& p) {
    for (size_t i = 0; i < p.trials.size(); ++i) saved.add(nlohmann::json::parse(prediction_line(p, i, data).dump()));
  };
}

}  // namespace

TEST_CASE("the protocol holds out every trial once, in fold trial mod 5, and scores what it predicts") {
  const TrainerConfig config = wiener_config();
  const DecodingData& data = synthetic_data();
  for (Protocol protocol : {Protocol::causal, Protocol::noncausal}) {
    const std::string protocol_label = protocol_name(protocol);
    CAPTURE(protocol_label);
    ProtocolOptions options = seed0(protocol);
    std::vector<FoldPredictions> seen;
    options.on_predictions = [&](const FoldPredictions& p) { seen.push_back(p); };
    const ProtocolResult result = run_protocol(config, data, options);

    REQUIRE(seen.size() == 5);
    std::map<int64_t, int64_t> fold_of_trial;
    R2Accumulator rescored(data.outputs());
    for (const FoldPredictions& p : seen) {
      CHECK(p.model == result.model);
      CHECK(p.protocol == protocol);
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
  const DecodingData& data = synthetic_data();
  ProtocolOptions options = seed0();
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

TEST_CASE("a label names the run in its record and in its prediction lines") {
  const TrainerConfig config = wiener_config();
  const DecodingData& data = synthetic_data();
  ProtocolOptions options = seed0();
  options.only_folds = {2};
  std::vector<std::string> line_models;
  options.on_predictions = [&](const FoldPredictions& p) {
    line_models.push_back(prediction_line(p, 0, data).at("model").get<std::string>());
  };
  CHECK(run_protocol(config, data, options).model == "wiener-tiny");  // the config's name
  options.label = std::string("wiener+probe");
  CHECK(run_protocol(config, data, options).model == "wiener+probe");
  CHECK(line_models == std::vector<std::string>{"wiener-tiny", "wiener+probe"});
}

TEST_CASE("predict.smooth_ms smooths what the protocol scores, hands on the raw predictions and is recorded") {
  for (Protocol protocol : {Protocol::causal, Protocol::noncausal}) {
    const std::string protocol_label = protocol_name(protocol);
    CAPTURE(protocol_label);
    TrainerConfig config = wiener_config();
    const DecodingData& data = synthetic_data();
    ProtocolOptions options = seed0(protocol);
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
      CHECK(raw[f].smooth_ms == 0);
      CHECK(smoothed[f].smooth_ms == 12.5);
      CHECK(smoothed[f].values == raw[f].values);  // handed on raw, whatever the scoring width
      std::vector<float> expected = raw[f].values;
      smooth_predictions(expected, raw[f].bins, raw[f].outputs, 12.5 / data.bin_ms(), protocol == Protocol::causal);
      CHECK(expected != raw[f].values);
      const size_t per_trial = static_cast<size_t>(raw[f].bins * raw[f].outputs);
      for (size_t i = 0; i < raw[f].trials.size(); ++i)
        rescored.add(expected.data() + i * per_trial,
                     data.labelled.behavior.data() + static_cast<size_t>(raw[f].trials[i]) * per_trial, raw[f].bins);
    }
    CHECK(rescored.score().mean == doctest::Approx(smoothed_result.r2.mean).epsilon(1e-12));
    CHECK(smoothed_result.r2.mean != raw_result.r2.mean);
  }
}

TEST_CASE("saved predictions rescore a record exactly at any width, from a raw or a smoothed run, both protocols") {
  for (Protocol protocol : {Protocol::causal, Protocol::noncausal}) {
    const std::string protocol_label = protocol_name(protocol);
    CAPTURE(protocol_label);
    TrainerConfig config = wiener_config();
    const DecodingData& data = synthetic_data();
    ProtocolOptions options = seed0(protocol, "w");
    options.only_folds = {0, 2};
    SavedPredictions from_raw, from_smoothed;
    options.on_predictions = save_into(from_raw, data);
    const ProtocolResult raw = run_protocol(config, data, options);
    config.set("predict.smooth_ms", "15");
    options.on_predictions = save_into(from_smoothed, data);
    const ProtocolResult smoothed = run_protocol(config, data, options);
    CHECK(from_raw.trials() == from_smoothed.trials());

    auto check_same = [](const nlohmann::json& rescored, const ProtocolResult& run) {
      CHECK(rescored["smooth_ms"].get<double>() == run.smooth_ms);
      CHECK(rescored["r2_mean"].get<double>() == doctest::Approx(run.r2.mean).epsilon(1e-9));
      const R2Stats a = r2_stats_from_json(rescored["stats_per_seed"][0]), b = run.stats_per_seed[0];
      REQUIRE(a.ss_res.size() == b.ss_res.size());
      for (size_t c = 0; c < a.ss_res.size(); ++c) CHECK(a.ss_res[c] == doctest::Approx(b.ss_res[c]).epsilon(1e-9));
    };
    check_same(from_raw.rescore(raw.to_json(), 0.0), raw);
    check_same(from_raw.rescore(raw.to_json(), 15.0), smoothed);            // as if run with predict.smooth_ms
    check_same(from_smoothed.rescore(smoothed.to_json(), 0.0), raw);        // a smoothed run unsmoothed
    check_same(from_smoothed.rescore(smoothed.to_json(), 15.0), smoothed);
  }
}

TEST_CASE("rescore refuses predictions of another run, width, fold or size, each with its own reason") {
  TrainerConfig config = wiener_config();
  const DecodingData& data = synthetic_data();
  ProtocolOptions options = seed0(Protocol::noncausal, "w");
  options.only_folds = {0, 2};
  SavedPredictions saved;
  std::vector<nlohmann::json> lines;
  options.on_predictions = [&](const FoldPredictions& p) {
    for (size_t i = 0; i < p.trials.size(); ++i) lines.push_back(prediction_line(p, i, data));
  };
  const ProtocolResult raw = run_protocol(config, data, options);
  for (const auto& line : lines) saved.add(line);
  config.set("predict.smooth_ms", "15");
  options.on_predictions = nullptr;
  const nlohmann::json smoothed_record = run_protocol(config, data, options).to_json();

  // A record scored at 15 ms, whose statistics the raw run's predictions do reproduce at 15 ms:
  // still refused, because they were saved by a run of another width.
  CHECK_THROWS_WITH_AS(saved.rescore(smoothed_record, 0.0), doctest::Contains("scored at smooth_ms 0, the record at 15"),
                       Error);
  nlohmann::json other_folds = raw.to_json();
  other_folds["folds_run"] = {0, 1};
  CHECK_THROWS_WITH_AS(saved.rescore(other_folds, 0.0), doctest::Contains("no predictions for w noncausal seed 0 fold 1"),
                       Error);
  nlohmann::json other_run = raw.to_json();
  other_run["stats_per_seed"][0]["ss_res"][0] = other_run["stats_per_seed"][0]["ss_res"][0].get<double>() * 1.01;
  CHECK_THROWS_WITH_AS(saved.rescore(other_run, 0.0), doctest::Contains("do not reproduce the recorded"), Error);
  nlohmann::json three_outputs = raw.to_json();
  for (const char* key : {"sum", "sum_sq", "ss_res"}) three_outputs["stats_per_seed"][0][key].push_back(1.0);
  CHECK_THROWS_WITH_AS(saved.rescore(three_outputs, 0.0), doctest::Contains("has 2 outputs; the record has 3"), Error);

  CHECK_THROWS_WITH_AS(saved.add(lines.front()), doctest::Contains("appears twice"), Error);
  nlohmann::json no_bin = lines.front();
  no_bin.erase("bin_ms");
  no_bin["fold"] = 4;
  CHECK_THROWS_WITH_AS(saved.add(no_bin), doctest::Contains("without bin_ms"), Error);
  saved.add(no_bin, 5.0);
  nlohmann::json short_line = lines.back();
  short_line["fold"] = 3;
  short_line["prediction"].erase(0);
  CHECK_THROWS_WITH_AS(saved.add(short_line), doctest::Contains("wrong size"), Error);
  nlohmann::json bad_width = lines.back();
  bad_width["fold"] = 3;
  bad_width["smooth_ms"] = -1;
  CHECK_THROWS_WITH_AS(saved.add(bad_width), doctest::Contains("smooth_ms -1"), Error);
}

TEST_CASE("a seed pool sums folds of separate records and refuses a part given twice, unchanged") {
  const TrainerConfig config = wiener_config();
  const DecodingData& data = synthetic_data();
  ProtocolOptions options = seed0();
  options.only_folds = {0, 1};
  const nlohmann::json first = run_protocol(config, data, options).to_json();
  options.only_folds = {2, 3, 4};
  const nlohmann::json rest = run_protocol(config, data, options).to_json();
  options.only_folds = {};
  const ProtocolResult whole = run_protocol(config, data, options);

  SeedPool pool("wiener-tiny noncausal");
  pool.add(first);
  pool.add(rest);
  CHECK(pool.folds().at(0) == std::set<int64_t>{0, 1, 2, 3, 4});
  CHECK(pool.stats().at(0).score().mean == doctest::Approx(whole.r2.mean).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(pool.add(first), doctest::Contains("seed 0 fold 0 appears twice"), Error);
  CHECK(pool.stats().at(0).rows == whole.stats_per_seed[0].rows);  // the refused record added nothing

  SeedPool partial("wiener-tiny noncausal");
  partial.add(first);
  nlohmann::json three_components = rest;
  for (const char* key : {"sum", "sum_sq", "ss_res"}) three_components["stats_per_seed"][0][key].push_back(1.0);
  CHECK_THROWS_WITH_AS(partial.add(three_components), doctest::Contains("3 components, earlier records 2"), Error);
  CHECK(partial.folds().at(0) == std::set<int64_t>{0, 1});  // unchanged by the refused record
  partial.add(rest);
  CHECK(partial.stats().at(0).score().mean == doctest::Approx(whole.r2.mean).epsilon(1e-12));
}
