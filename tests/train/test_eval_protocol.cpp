// The decoding protocol end to end on synthetic trials with the closed-form Wiener filter
// (fast, no seed dependence): every labelled trial is held out exactly once, in fold
// (trial mod 5); the pooled R^2 is the R^2 of the predictions handed to on_predictions;
// a run of some folds scores those folds only.
#include <doctest/doctest.h>

#include <map>
#include <set>

#include "engine/error.h"
#include "train/evaluation_protocol.h"

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
  ProtocolOptions options;
  options.protocol = Protocol::noncausal;
  options.seeds = {0};
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
