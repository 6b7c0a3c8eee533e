// The generic training loop on a small MLP regression task: loss falls, checkpoints resume
// bit for bit (also across the pre-training / fine-tuning boundary), bad resumes are refused.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <memory>

#include "engine/error.h"
#include "engine/factory.h"
#include "nn/layers/dropout.h"
#include "nn/layers/linear.h"
#include "ops/ops.h"
#include "train/checkpoint_io.h"
#include "train/metrics_log.h"
#include "tests/test_util.h"
#include "train/trainer.h"

using namespace cortex;
using namespace cortex::train;
using cortex::test::values;
namespace fs = std::filesystem;

namespace {

class Mlp : public nn::Module {
 public:
  explicit Mlp(Generator* gen) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(4, 16, true, gen));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.1, gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(16, 2, true, gen));
    aux = register_module("aux", std::make_shared<nn::Linear>(16, 4, true, gen));
  }
  Tensor hidden(const Tensor& x) const { return drop->forward(tanh(fc1->forward(x))); }
  std::shared_ptr<nn::Linear> fc1, fc2, aux;
  std::shared_ptr<nn::Dropout> drop;
};

// y = A x (2 outputs of 4 inputs); the "pre-training" objective reconstructs x.
class ToyTask : public TrainTask {
 public:
  explicit ToyTask(uint64_t seed) : gen(seed), net(&gen) {
    Generator data_gen(99);
    x = randn({64, 4}, DType::f32, Device::cpu(), &data_gen);
    const Tensor a = from_vector<float>({0.5f, -1.0f, 0.25f, 2.0f, 1.5f, 0.0f, -0.5f, 1.0f}, {2, 4});
    y = matmul(x, transpose(a, 0, 1));
  }
  nn::Module& model() override { return net; }
  Generator* generator() override { return &gen; }
  bool supports_phase(Phase) const override { return true; }
  int64_t num_samples(Phase) const override { return 64; }
  Tensor batch_loss(Phase phase, const std::vector<int64_t>& ids, uint64_t seed) override {
    const Tensor idx = from_vector<int64_t>(ids, {static_cast<int64_t>(ids.size())});
    const Tensor xb = index_select(x, 0, idx);
    // A seeded input jitter stands in for a task's random masks.
    Generator jitter(seed);
    const Tensor noisy = add(xb, mul(randn(xb.shape(), DType::f32, Device::cpu(), &jitter), 0.01));
    const Tensor h = net.hidden(noisy);
    if (phase == Phase::pretrain) return mse_loss(net.aux->forward(h), xb);
    return mse_loss(net.fc2->forward(h), index_select(y, 0, idx));
  }
  nlohmann::json evaluate(Phase phase) override {
    if (phase == Phase::pretrain) return nlohmann::json::object();
    NoGradGuard no_grad;
    return {{"mse", mse_loss(net.fc2->forward(net.hidden(x)), y).item()}};
  }
  nn::Metadata checkpoint_metadata() const override { return {{"model_config", "model: toy\n"}}; }

  Generator gen;
  Mlp net;
  Tensor x, y;
};

TrainerOptions options(const std::string& dir, int64_t pretrain, int64_t finetune) {
  TrainerOptions o;
  o.run_dir = dir;
  o.pretrain_steps = pretrain;
  o.finetune_steps = finetune;
  o.batch_size = 8;
  o.lr = 0.02;
  o.warmup_steps = 3;
  o.log_every = 5;
  o.seed = 5;
  return o;
}

fs::path fresh_dir(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("cortex_test_trainer_" + name);
  fs::remove_all(d);
  return d;
}

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const cortex::Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("trainer: a short CPU run lowers the loss and writes metrics and checkpoints") {
  const fs::path dir = fresh_dir("falls");
  ToyTask task(1);
  Trainer trainer(task, options(dir.string(), 0, 80));
  const TrainResult r = trainer.run();
  REQUIRE(r.steps.size() == 80);
  double first = 0, last = 0;
  for (int i = 0; i < 10; ++i) first += r.steps[static_cast<size_t>(i)].loss;
  for (int i = 70; i < 80; ++i) last += r.steps[static_cast<size_t>(i)].loss;
  CHECK(last < 0.2 * first);
  CHECK(r.last_eval.contains("mse"));
  CHECK(fs::is_regular_file(dir / "checkpoints" / "step_000000080.safetensors"));
  CHECK(fs::is_regular_file(dir / "checkpoints" / "step_000000080.trainer.safetensors"));
  const auto records = read_metrics((dir / "metrics.jsonl").string());
  int64_t train_lines = 0, eval_lines = 0;
  for (const auto& rec : records) {
    if (rec["type"] == "train") ++train_lines;
    if (rec["type"] == "eval") ++eval_lines;
  }
  CHECK(train_lines == 16);
  CHECK(eval_lines == 1);
  // The model file names its config for the server.
  const auto header = nn::read_safetensors_header((dir / "checkpoints" / "step_000000080.safetensors").string());
  CHECK(header.metadata.at(kMetaModelConfig) == "model: toy\n");
  CHECK(header.metadata.at(kMetaStep) == "80");
  fs::remove_all(dir);
}

TEST_CASE("trainer: resuming a checkpoint gives the uninterrupted run's next losses exactly") {
  for (const int64_t pretrain : {0, 6}) {
    CAPTURE(pretrain);
    const fs::path a_dir = fresh_dir("resume_a"), b_dir = fresh_dir("resume_b");
    // Uninterrupted: 6 + 14 steps (or 20), checkpoints every 6 (one lands on the boundary).
    ToyTask a(3);
    TrainerOptions oa = options(a_dir.string(), pretrain, 20 - pretrain);
    oa.checkpoint_every = 6;
    const TrainResult full = Trainer(a, oa).run();
    REQUIRE(full.steps.size() == 20);
    for (const int64_t at : {6, 12}) {
      CAPTURE(at);
      ToyTask b(77);  // different initial weights and generator: all must come from the checkpoint
      TrainerOptions ob = options(b_dir.string(), pretrain, 20 - pretrain);
      ob.resume = checkpoint_paths(a_dir.string(), at).model;
      Trainer resumed(b, ob);
      CHECK(resumed.step() == at);
      const TrainResult rest = resumed.run();
      REQUIRE(rest.steps.size() == static_cast<size_t>(20 - at));
      for (size_t i = 0; i < rest.steps.size(); ++i) {
        CAPTURE(i);
        CHECK(rest.steps[i].loss == full.steps[static_cast<size_t>(at) + i].loss);  // bit-exact
        CHECK(rest.steps[i].lr == full.steps[static_cast<size_t>(at) + i].lr);
      }
      fs::remove_all(b_dir);
    }
    fs::remove_all(a_dir);
  }
}

TEST_CASE("trainer: a stopped run continues with run.resume=latest") {
  const fs::path ref_dir = fresh_dir("latest_ref"), dir = fresh_dir("latest");
  ToyTask ref(4);
  const TrainResult full = Trainer(ref, options(ref_dir.string(), 0, 15)).run();
  {
    ToyTask t(4);
    const TrainResult part = Trainer(t, options(dir.string(), 0, 15)).run(7);
    CHECK(part.steps.size() == 7);
    CHECK(latest_checkpoint(dir.string()) == checkpoint_paths(dir.string(), 7).model);
  }
  ToyTask t(4);
  TrainerOptions o = options(dir.string(), 0, 15);
  o.resume = "latest";
  const TrainResult rest = Trainer(t, o).run();
  REQUIRE(rest.steps.size() == 8);
  for (size_t i = 0; i < 8; ++i) CHECK(rest.steps[i].loss == full.steps[7 + i].loss);
  // The metrics file holds each logged step once.
  int64_t last_step = -1;
  for (const auto& rec : read_metrics((dir / "metrics.jsonl").string())) {
    if (rec["type"] != "train") continue;
    CHECK(rec["step"].get<int64_t>() > last_step);
    last_step = rec["step"].get<int64_t>();
  }
  CHECK(last_step == 15);
  fs::remove_all(ref_dir);
  fs::remove_all(dir);
}

TEST_CASE("trainer: resumes that cannot be exact are refused with the reason") {
  const fs::path dir = fresh_dir("refuse");
  ToyTask a(2);
  Trainer(a, options(dir.string(), 0, 4)).run();
  const std::string ck = checkpoint_paths(dir.string(), 4).model;
  {
    ToyTask b(2);
    TrainerOptions o = options("", 0, 8);
    o.resume = ck;
    o.seed = 6;
    CHECK(error_of([&] { Trainer(b, o); }).find("used seed 5 but this run uses 6") != std::string::npos);
  }
  {
    ToyTask b(2);
    TrainerOptions o = options("", 0, 8);
    o.resume = ck;
    o.batch_size = 4;
    CHECK(error_of([&] { Trainer(b, o); }).find("batch size 8") != std::string::npos);
  }
  {
    ToyTask b(2);
    TrainerOptions o = options("", 0, 8);
    o.resume = (dir / "checkpoints" / "nope.safetensors").string();
    CHECK(error_of([&] { Trainer(b, o); }).find("does not exist") != std::string::npos);
  }
  {
    fs::remove(checkpoint_paths(dir.string(), 4).trainer);
    ToyTask b(2);
    TrainerOptions o = options("", 0, 8);
    o.resume = ck;
    CHECK(error_of([&] { Trainer(b, o); }).find("has no trainer state beside it") != std::string::npos);
  }
  fs::remove_all(dir);
}

namespace {
std::vector<std::vector<double>> weights_of(const nn::Module& m) {
  std::vector<std::vector<double>> w;
  for (const Tensor& p : m.parameters()) w.push_back(values(p.detach()));
  return w;
}
}  // namespace

TEST_CASE("trainer: optim.ema_decay leaves training untouched, ends with the averaged weights and resumes exactly") {
  const fs::path plain_dir = fresh_dir("ema_plain"), a_dir = fresh_dir("ema_a"), b_dir = fresh_dir("ema_b");
  ToyTask plain(3);
  TrainerOptions op = options(plain_dir.string(), 4, 16);
  op.eval_every = 5;  // evaluations mid-run swap the average in and out
  op.checkpoint_every = 2;
  const TrainResult plain_run = Trainer(plain, op).run();

  ToyTask a(3);
  TrainerOptions oa = op;
  oa.run_dir = a_dir.string();
  oa.ema_decay = 0.9;
  const TrainResult averaged = Trainer(a, oa).run();
  REQUIRE(averaged.steps.size() == plain_run.steps.size());
  for (size_t i = 0; i < averaged.steps.size(); ++i) CHECK(averaged.steps[i].loss == plain_run.steps[i].loss);
  // Same trajectory, but the model ends with the average, not the last step's weights; the
  // pre-training head (aux), untouched while fine-tuning, keeps its weights exactly.
  CHECK(weights_of(a.net) != weights_of(plain.net));
  CHECK(values(a.net.aux->weight) == values(plain.net.aux->weight));
  CHECK(averaged.last_eval.at("mse").get<double>() != plain_run.last_eval.at("mse").get<double>());

  // Resumed at the phase boundary (4), mid-phase (10) and from the final checkpoint (20): the same
  // average at the end, bit for bit.
  for (const int64_t at : {4, 10, 20}) {
    CAPTURE(at);
    ToyTask b(77);
    TrainerOptions ob = oa;
    ob.run_dir = b_dir.string();
    ob.resume = checkpoint_paths(a_dir.string(), at).model;
    Trainer(b, ob).run();
    CHECK(weights_of(b.net) == weights_of(a.net));
    fs::remove_all(b_dir);
  }
  // Resumes that cannot be exact are refused: without the average, with another decay, and
  // continuing a finished run whose model file holds the average instead of the live weights.
  auto refusal = [&](const fs::path& from, int64_t at, double decay, int64_t finetune) {
    ToyTask c(3);
    TrainerOptions oc = oa;
    oc.run_dir = "";
    oc.ema_decay = decay;
    oc.finetune_steps = finetune;
    oc.resume = checkpoint_paths(from.string(), at).model;
    return error_of([&] { Trainer(c, oc); });
  };
  CHECK(refusal(plain_dir, 12, 0.9, 16).find("used optim.ema_decay=0 but this run uses 0.9") != std::string::npos);
  CHECK(refusal(a_dir, 12, 0.8, 16).find("used optim.ema_decay=0.9 but this run uses 0.8") != std::string::npos);
  CHECK(refusal(a_dir, 20, 0.9, 26).find("holds its averaged weights, not the live ones") != std::string::npos);
  CHECK(refusal(a_dir, 12, 0.9, 26) == "");  // an earlier checkpoint of it may be continued
  fs::remove_all(plain_dir);
  fs::remove_all(a_dir);
}

TEST_CASE("append_records keeps what the file held, adds whole lines, follows links and refuses a directory") {
  const auto dir = std::filesystem::temp_directory_path() / "cortex_test_append_records";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const std::string path = (dir / "records.jsonl").string();
  train::append_records(path, {{{"a", 1}}});  // a new file
  {
    std::ofstream more(path, std::ios::app);
    more << R"({"b":2})";  // a last line without its newline
  }
  const std::string link = (dir / "link.jsonl").string();
  std::filesystem::create_symlink(path, link);
  train::append_records(link, {{{"c", 3}}, {{"d", std::nan("")}}});
  CHECK(std::filesystem::is_symlink(link));  // appended through, not replaced
  const auto lines = train::read_metrics(path);
  REQUIRE(lines.size() == 4);
  CHECK(lines[0]["a"] == 1);
  CHECK(lines[1]["b"] == 2);
  CHECK(lines[2]["c"] == 3);
  CHECK(lines[3]["d"].is_null());

  const std::string a_directory = (dir / "sub").string();
  std::filesystem::create_directories(a_directory);
  CHECK_THROWS_WITH_AS(train::append_records(a_directory, {{{"e", 5}}}), doctest::Contains("cannot append to"), Error);
  CHECK(std::filesystem::is_empty(a_directory));
  std::filesystem::remove_all(dir);
}
