// The decoding tasks with real (tiny) models on synthetic trials: Cortex training lowers
// the loss, a resumed Cortex run (pre-training with masks and dropout, then fine-tuning)
// repeats the uninterrupted run's losses exactly, and under the causal protocol no
// prediction sees a later bin.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <memory>
#include <set>

#include "engine/error.h"
#include "train/checkpoint_io.h"
#include "train/trainer.h"
#include "train/trainer_augment.h"
#include "train/trainer_cortex_task.h"
#include "train/trainer_factory.h"

using namespace cortex;
using namespace cortex::train;
namespace fs = std::filesystem;

namespace {

const char* kTinyCortex =
    "model: cortex\nname: cortex-tiny\ndim: 16\ndepth: 1\nheads: 2\nlatents: 4\nffn_mult: 2\nunit_vocab: 64\n"
    "max_count: 4\ndropout: 0.1\nwindow_ms: 800\nbin_ms: 5\n";
const char* kTinyGru = "model: gru\nname: gru-tiny\nunits: 1\nhidden_causal: 8\nhidden_bidirectional: 6\nlayers: 2\n";
const char* kTinyTransformer =
    "model: transformer\nname: transformer-tiny\nunits: 1\ndim: 16\ndepth: 1\nheads: 2\nffn_mult: 2\nmax_bins: 160\n";
const char* kTinyWiener = "model: wiener\nname: wiener-tiny\nunits: 1\nlags: 4\nfolds: 3\nlambdas: [0.01, 1.0]\n";

const DecodingData& synthetic_data() {
  static const DecodingData data = [] {
    TrainerConfig c;
    c.set("data", "synthetic");
    c.set("synthetic.units", "24");
    c.set("synthetic.trials", "20");
    return load_decoding_data(c);
  }();
  return data;
}

TrainerConfig config_of(const std::string& model_yaml) {
  TrainerConfig c = TrainerConfig::from_yaml(model_yaml, "test model");
  c.set("data", "synthetic");
  return c;
}

std::unique_ptr<DecodingTask> task_of(const std::string& model_yaml, const FoldData& fold, Protocol protocol,
                                      uint64_t seed = 0, double spike_dropout = 0.0, DType dtype = DType::f32) {
  const nn::ModelConfig m = resolve_model_config(config_of(model_yaml), synthetic_data(), protocol);
  TaskSettings s;
  s.seed = seed;
  s.spike_dropout = spike_dropout;
  s.dtype = dtype;
  return make_task(m, fold, protocol, s);
}

TrainerOptions options(const std::string& dir, int64_t pretrain, int64_t finetune) {
  TrainerOptions o;
  o.run_dir = dir;
  o.pretrain_steps = pretrain;
  o.finetune_steps = finetune;
  o.batch_size = 2;
  o.lr = 3e-3;
  o.warmup_steps = 2;
  o.seed = 11;
  return o;
}

// Trains a task for 150 steps at a high rate and returns the mean loss of steps 100-149 over
// that of steps 0-24, then checks that prediction covers every bin of the test trials.
double loss_ratio_and_check_predict(DecodingTask& task, const FoldData& fold, int64_t batch) {
  TrainerOptions o = options("", 0, 150);
  o.batch_size = batch;
  o.lr = 1e-2;
  o.warmup_steps = 5;
  const TrainResult r = Trainer(task, o).run();
  double first = 0, last = 0;
  for (size_t i = 0; i < 25; ++i) first += r.steps[i].loss / 25;
  for (size_t i = 100; i < 150; ++i) last += r.steps[i].loss / 50;
  const auto& set = synthetic_data().labelled;
  const std::vector<float> pred = task.predict(set, fold.test_trials);
  CHECK(static_cast<int64_t>(pred.size()) ==
        static_cast<int64_t>(fold.test_trials.size()) * set.bins * set.behavior_dims);
  return last / first;
}

}  // namespace

TEST_CASE("cortex task: a short CPU run lowers the velocity loss") {
  const FoldData fold = make_fold(synthetic_data(), 0);
  auto task = task_of(kTinyCortex, fold, Protocol::noncausal);
  TrainerOptions o = options("", 0, 150);
  o.batch_size = 4;
  o.lr = 1e-2;
  o.warmup_steps = 5;
  const TrainResult r = Trainer(*task, o).run();
  REQUIRE(r.steps.size() == 150);
  // Targets are z-scored, so a constant prediction sits near 1; the first steps are above it.
  double first = 0, last = 0;
  for (size_t i = 0; i < 25; ++i) first += r.steps[i].loss / 25;
  for (size_t i = 100; i < 150; ++i) last += r.steps[i].loss / 50;
  CHECK(first > 0.9);
  CHECK(last < 0.75 * first);
  REQUIRE(r.last_eval.contains("r2"));
  CHECK(std::isfinite(r.last_eval["r2"].get<double>()));
}

TEST_CASE("cortex task: whole-trial training on random crops and window shifts lowers the loss, predicts every bin") {
  const FoldData fold = make_fold(synthetic_data(), 0);
  const nn::ModelConfig m = resolve_model_config(config_of(kTinyCortex), synthetic_data(), Protocol::noncausal);
  TaskSettings settings;
  settings.crop_min_bins = 20;
  settings.window_jitter_ms = 100;
  auto task = make_task(m, fold, Protocol::noncausal, settings);
  // Crops are a training device only: prediction still covers every bin of each trial.
  CHECK(loss_ratio_and_check_predict(*task, fold, 4) < 0.8);
  // Where they would be silently ignored, the settings are refused.
  const nn::ModelConfig causal = resolve_model_config(config_of(kTinyCortex), synthetic_data(), Protocol::causal);
  CHECK_THROWS_WITH_AS(make_task(causal, fold, Protocol::causal, settings),
                       doctest::Contains("apply to whole-trial (non-causal) Cortex"), cortex::Error);
  const nn::ModelConfig gru = resolve_model_config(config_of(kTinyGru), synthetic_data(), Protocol::noncausal);
  CHECK_THROWS_AS(make_task(gru, fold, Protocol::noncausal, settings), cortex::Error);
}

TEST_CASE("non-causal centred windows: one sample per (trial, bin) around its bin, trains, predicts every bin") {
  const FoldData fold = make_fold(synthetic_data(), 0);
  const nn::ModelConfig m = resolve_model_config(config_of(kTinyCortex), synthetic_data(), Protocol::noncausal);
  TaskSettings settings;
  settings.centred_windows = true;
  auto task = make_task(m, fold, Protocol::noncausal, settings);
  auto& cortex_task = dynamic_cast<CortexTask&>(*task);
  const int64_t bins = synthetic_data().bins();
  const double bin_ms = synthetic_data().bin_ms();
  CHECK(task->num_samples(Phase::finetune) == static_cast<int64_t>(fold.train_trials.size()) * bins);
  // 800 ms windows of 5 ms bins: 79 whole bins on each side of bin t, the query at t's centre.
  for (int64_t t : {int64_t{0}, int64_t{37}, bins - 1}) {
    const CortexTask::BinWindow w = cortex_task.bin_window(t);
    CHECK(w.first_bin == t - 79);
    CHECK(w.last_bin == t + 79);
    CHECK(w.start_ms == doctest::Approx(static_cast<double>(t - 79) * bin_ms));
    const double query_ms = (static_cast<double>(t) + 0.5) * bin_ms;
    CHECK(query_ms - w.start_ms == doctest::Approx(0.5 * m.cortex.window_ms - 0.5 * bin_ms));
    // The last bin's events lie inside the window.
    CHECK((static_cast<double>(w.last_bin) + 0.5) * bin_ms < w.start_ms + m.cortex.window_ms);
  }
  CHECK(loss_ratio_and_check_predict(*task, fold, 16) < 0.8);
  // Refused where it would be ignored or would clash with the whole-trial augmentations.
  const nn::ModelConfig causal = resolve_model_config(config_of(kTinyCortex), synthetic_data(), Protocol::causal);
  CHECK_THROWS_WITH_AS(make_task(causal, fold, Protocol::causal, settings),
                       doctest::Contains("train.centred_windows applies to non-causal Cortex"), cortex::Error);
  const nn::ModelConfig gru = resolve_model_config(config_of(kTinyGru), synthetic_data(), Protocol::noncausal);
  CHECK_THROWS_AS(make_task(gru, fold, Protocol::noncausal, settings), cortex::Error);
  settings.crop_min_bins = 20;
  CHECK_THROWS_WITH_AS(make_task(m, fold, Protocol::noncausal, settings), doctest::Contains("must be 0 with it"),
                       cortex::Error);
}

TEST_CASE("cortex task: resume after pre-training or mid fine-tuning repeats the next losses exactly") {
  // With drop path and its own pre-training batch, both of which a resume must restore.
  const std::string model = std::string(kTinyCortex) + "drop_path: 0.3\n";
  for (const Protocol protocol : {Protocol::noncausal, Protocol::causal}) {
    CAPTURE(protocol_name(protocol));
    const fs::path a_dir = fs::temp_directory_path() / "cortex_test_cortex_resume_a";
    const fs::path b_dir = fs::temp_directory_path() / "cortex_test_cortex_resume_b";
    fs::remove_all(a_dir);
    fs::remove_all(b_dir);
    const FoldData fold = make_fold(synthetic_data(), 1);
    auto a = task_of(model, fold, protocol, 3, 0.2);
    TrainerOptions oa = options(a_dir.string(), 3, 5);
    oa.pretrain_batch_size = 3;
    oa.checkpoint_every = 2;
    const TrainResult full = Trainer(*a, oa).run();
    REQUIRE(full.steps.size() == 8);
    CHECK(full.steps[0].phase == Phase::pretrain);
    CHECK(full.steps[3].phase == Phase::finetune);
    for (const int64_t at : {2, 4, 6}) {
      CAPTURE(at);
      auto b = task_of(model, fold, protocol, 99, 0.2);  // other weights: the checkpoint must restore them
      TrainerOptions ob = options(b_dir.string(), 3, 5);
      ob.pretrain_batch_size = 3;
      ob.resume = checkpoint_paths(a_dir.string(), at).model;
      const TrainResult rest = Trainer(*b, ob).run();
      REQUIRE(rest.steps.size() == static_cast<size_t>(8 - at));
      for (size_t i = 0; i < rest.steps.size(); ++i) CHECK(rest.steps[i].loss == full.steps[at + i].loss);
      fs::remove_all(b_dir);
    }
    // The checkpoint names its model config for cortex-serve.
    const auto header = nn::read_safetensors_header(checkpoint_paths(a_dir.string(), 8).model);
    const nn::ModelConfig rebuilt = nn::parse_model_config(header.metadata.at(kMetaModelConfig), "checkpoint");
    CHECK(rebuilt.kind == nn::ModelKind::cortex);
    CHECK(rebuilt.cortex.dim == 16);
    CHECK(rebuilt.cortex.drop_path == 0.3);
    CHECK(header.metadata.at("protocol") == protocol_name(protocol));
    {
      auto b = task_of(model, fold, protocol, 99, 0.2);
      TrainerOptions ob = options("", 3, 5);
      ob.resume = checkpoint_paths(a_dir.string(), 2).model;  // pre-trained with 3 a step, not the 2 of batch_size
      CHECK_THROWS_WITH_AS(Trainer(*b, ob), doctest::Contains("pre-trained with batch size 3 but this run uses 2"),
                           cortex::Error);
    }
    {
      auto b = task_of(kTinyCortex, fold, protocol, 3, 0.2);  // the same but for drop path
      TrainerOptions ob = options("", 3, 5);
      ob.pretrain_batch_size = 3;
      ob.resume = checkpoint_paths(a_dir.string(), 4).model;
      std::string error;
      try {
        Trainer(*b, ob);
      } catch (const cortex::Error& e) {
        error = e.what();
      }
      CHECK(error.find("another model config ('drop_path: 0.") != std::string::npos);
      CHECK(error.find("in the checkpoint, 'drop_path: 0' in this run)") != std::string::npos);
    }
    fs::remove_all(a_dir);
  }
}

TEST_CASE("cortex task: bf16 weights with f32 masters resume exactly") {
  const fs::path a_dir = fs::temp_directory_path() / "cortex_test_bf16_resume_a";
  const fs::path b_dir = fs::temp_directory_path() / "cortex_test_bf16_resume_b";
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
  const FoldData fold = make_fold(synthetic_data(), 2);
  auto a = task_of(kTinyCortex, fold, Protocol::noncausal, 5, 0.1, DType::bf16);
  CHECK(a->model().parameters().front().dtype() == DType::bf16);
  TrainerOptions oa = options(a_dir.string(), 2, 6);
  oa.checkpoint_every = 5;
  const TrainResult full = Trainer(*a, oa).run();
  // The optimiser file keeps the f32 master of every bf16 weight.
  const auto header = nn::read_safetensors_header(checkpoint_paths(a_dir.string(), 5).trainer);
  int64_t masters = 0;
  for (const auto& e : header.entries)
    if (e.name.size() > 7 && e.name.compare(e.name.size() - 7, 7, ".master") == 0) {
      ++masters;
      CHECK(e.dtype == DType::f32);
    }
  CHECK(masters > 0);
  auto b = task_of(kTinyCortex, fold, Protocol::noncausal, 8, 0.1, DType::bf16);
  TrainerOptions ob = options(b_dir.string(), 2, 6);
  ob.resume = checkpoint_paths(a_dir.string(), 5).model;
  const TrainResult rest = Trainer(*b, ob).run();
  REQUIRE(rest.steps.size() == 3);
  for (size_t i = 0; i < 3; ++i) CHECK(rest.steps[i].loss == full.steps[5 + i].loss);
  fs::remove_all(a_dir);
  fs::remove_all(b_dir);
}

TEST_CASE("causal protocol: changing spikes after bin t leaves every prediction up to t unchanged") {
  const DecodingData& data = synthetic_data();
  const FoldData fold = make_fold(data, 0);
  const std::vector<int64_t> trials{fold.test_trials[0], fold.test_trials[1]};
  const int64_t bins = data.bins(), units = data.units(), c_n = data.outputs();
  const int64_t cut = 70;  // perturb bins > cut
  data::SampleSet perturbed = data.labelled;
  for (int64_t t : trials)
    for (int64_t b = cut + 1; b < bins; ++b)
      for (int64_t u = 0; u < units; ++u) {
        float& c = perturbed.heldin[static_cast<size_t>((t * bins + b) * units + u)];
        c = static_cast<float>((static_cast<int64_t>(c) + 1 + (b + u) % 3) % 4);
      }
  for (const char* yaml : {kTinyCortex, kTinyGru, kTinyTransformer, kTinyWiener}) {
    for (const Protocol protocol : {Protocol::causal, Protocol::noncausal}) {
      CAPTURE(yaml);
      CAPTURE(protocol_name(protocol));
      auto task = task_of(yaml, fold, protocol);
      if (task->closed_form()) task->fit();
      task->model().eval();
      const std::vector<float> base = task->predict(data.labelled, trials);
      const std::vector<float> moved = task->predict(perturbed, trials);
      REQUIRE(base.size() == trials.size() * static_cast<size_t>(bins * c_n));
      double max_past = 0, max_future = 0, max_any_past = 0;
      for (size_t i = 0; i < trials.size(); ++i)
        for (int64_t b = 0; b < bins; ++b)
          for (int64_t c = 0; c < c_n; ++c) {
            const size_t k = (i * static_cast<size_t>(bins) + static_cast<size_t>(b)) * static_cast<size_t>(c_n) +
                             static_cast<size_t>(c);
            const double d = std::abs(static_cast<double>(base[k]) - moved[k]);
            (b <= cut ? max_past : max_future) = std::max(b <= cut ? max_past : max_future, d);
            if (b <= cut) max_any_past = std::max(max_any_past, std::abs(static_cast<double>(base[k])));
          }
      // The perturbation is visible after the cut (the test can see a change)...
      CHECK(max_future > 1e-3);
      if (protocol == Protocol::causal) {
        // ...and invisible up to it (rounding of batched GEMMs aside).
        CHECK(max_past <= 1e-5 * (1.0 + max_any_past));
      } else if (std::string(yaml).find("wiener") == std::string::npos ||
                 std::string(yaml).find("lags: 4") != std::string::npos) {
        // Non-causal decoders do look ahead: the bins before the cut change as well.
        CHECK(max_past > 1e-3);
      }
    }
  }
}

TEST_CASE("spike dropout thins counts reproducibly at the requested rate") {
  std::vector<float> a(20000, 2.0f);
  std::vector<float> b = a, c = a, none = a;
  thin_counts(a.data(), 20000, 0.25, 7, 3);
  thin_counts(b.data(), 20000, 0.25, 7, 3);
  thin_counts(c.data(), 20000, 0.25, 7, 4);
  thin_counts(none.data(), 20000, 0.0, 7, 3);
  CHECK(a == b);
  CHECK(a != c);
  CHECK(none == std::vector<float>(20000, 2.0f));
  double kept = 0;
  for (float v : a) {
    CHECK((v == 0.0f || v == 1.0f || v == 2.0f));
    kept += v;
  }
  CHECK(kept / 40000.0 == doctest::Approx(0.75).epsilon(0.02));
  CHECK_THROWS_AS(thin_counts(a.data(), 1, 1.0, 0, 0), cortex::Error);
}

TEST_CASE("random trial crops: in range, at least the minimum, reproducible, varied") {
  std::set<int64_t> lengths, firsts;
  for (uint64_t sample = 0; sample < 2000; ++sample) {
    const BinRange r = random_crop(140, 40, 9, sample);
    REQUIRE(r.first >= 0);
    REQUIRE(r.last <= 139);
    REQUIRE(r.last - r.first + 1 >= 40);
    const BinRange again = random_crop(140, 40, 9, sample);
    CHECK((again.first == r.first && again.last == r.last));
    lengths.insert(r.last - r.first + 1);
    firsts.insert(r.first);
  }
  CHECK(lengths.count(140) == 1);  // the whole trial is one of the lengths drawn
  CHECK(lengths.size() > 90);      // of the 101 possible lengths
  CHECK(firsts.size() > 80);
  const BinRange other_seed = random_crop(140, 40, 10, 0), same_seed = random_crop(140, 40, 9, 0);
  CHECK_FALSE((other_seed.first == same_seed.first && other_seed.last == same_seed.last &&
               random_crop(140, 40, 10, 1).first == random_crop(140, 40, 9, 1).first));
  for (int64_t off : {0, -3, 140, 500}) {
    const BinRange whole = random_crop(140, off, 9, 3);
    CHECK((whole.first == 0 && whole.last == 139));
  }
  const BinRange single = random_crop(1, 1, 9, 3);
  CHECK((single.first == 0 && single.last == 0));
  CHECK_THROWS_AS(random_crop(0, 1, 9, 3), cortex::Error);
}

TEST_CASE("random window shifts: uniform within their range, reproducible, and the trial stays inside the window") {
  double lowest = 1e9, highest = -1e9;
  for (uint64_t sample = 0; sample < 1000; ++sample) {
    const double s = random_in(-150.0, 150.0, 4, sample);
    REQUIRE(std::abs(s) <= 150.0);
    CHECK(s == random_in(-150.0, 150.0, 4, sample));
    lowest = std::min(lowest, s);
    highest = std::max(highest, s);
  }
  CHECK(lowest < -140.0);
  CHECK(highest > 140.0);
  CHECK(random_in(-150.0, 150.0, 4, 0) != random_in(-150.0, 150.0, 5, 0));
  CHECK(random_in(3.0, 3.0, 4, 0) == 3.0);
  CHECK(random_in(3.0, 1.0, 4, 0) == 3.0);

  // The tiny model's window is longer than a synthetic trial; a jitter beyond the slack may
  // use all of the slack and no more.
  const FoldData fold = make_fold(synthetic_data(), 0);
  const nn::ModelConfig m = resolve_model_config(config_of(kTinyCortex), synthetic_data(), Protocol::noncausal);
  TaskSettings settings;
  settings.window_jitter_ms = 1000;
  auto task = make_task(m, fold, Protocol::noncausal, settings);
  auto& cortex_task = dynamic_cast<CortexTask&>(*task);
  const double trial_ms = static_cast<double>(synthetic_data().bins()) * synthetic_data().bin_ms();
  const double centred = cortex_task.trial_window_start();
  REQUIRE(m.cortex.window_ms - trial_ms > 50.0);
  double first = 1e9, last = -1e9;
  for (uint64_t sample = 0; sample < 500; ++sample) {
    const double start = cortex_task.jittered_window_start(7, sample);
    REQUIRE(start <= 0.0);
    REQUIRE(start + m.cortex.window_ms >= trial_ms);
    first = std::min(first, start);
    last = std::max(last, start);
  }
  CHECK(first < centred - 0.8 * (0.0 - (trial_ms - m.cortex.window_ms)) / 2);
  CHECK(last > centred + 0.8 * (0.0 - (trial_ms - m.cortex.window_ms)) / 2);
  settings.window_jitter_ms = 0;
  auto fixed = make_task(m, fold, Protocol::noncausal, settings);
  CHECK(dynamic_cast<CortexTask&>(*fixed).jittered_window_start(7, 3) == centred);
}

TEST_CASE("model keys are checked by the model config parser") {
  {
    TrainerConfig c = config_of(kTinyCortex);
    c.apply_override("model.drop_path=1.0");
    CHECK_THROWS_WITH_AS(resolve_model_config(c, synthetic_data(), Protocol::causal),
                         doctest::Contains("drop_path must lie in [0, 1), got 1"), cortex::Error);
  }
  TrainerConfig c = config_of(kTinyCortex);
  c.apply_override("model.dimm=32");
  try {
    resolve_model_config(c, synthetic_data(), Protocol::causal);
    FAIL("expected an error");
  } catch (const cortex::Error& e) {
    CHECK(std::string(e.what()).find("unknown key 'dimm'") != std::string::npos);
  }
  TrainerConfig none;
  CHECK_THROWS_WITH_AS(resolve_model_config(none, synthetic_data(), Protocol::causal),
                       doctest::Contains("no model given"), cortex::Error);
}
