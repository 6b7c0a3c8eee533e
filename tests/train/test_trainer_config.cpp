#include <doctest/doctest.h>

#include <filesystem>
#include <functional>
#include <fstream>
#include <string>

#include "engine/error.h"
#include "train/trainer_config.h"

using cortex::train::TrainerConfig;

namespace {

std::string error_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const cortex::Error& e) {
    return e.what();
  }
  return "";
}

bool contains(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("config: defaults, file values and overrides in that order") {
  TrainerConfig config = TrainerConfig::from_yaml(
      "model: cortex\nname: cortex-xs\ndim: 64\nseed: 7\ntrain:\n  steps: 50\n  batch_size: 4\noptim:\n  lr: 0.01\n",
      "test.yaml");
  CHECK(config.get_int("seed") == 7);
  CHECK(config.get_int("train.steps") == 50);
  CHECK(config.get_int("train.batch_size") == 4);
  CHECK(config.get_real("optim.lr") == doctest::Approx(0.01));
  CHECK(config.get_real("optim.beta1") == doctest::Approx(0.9));  // default kept
  CHECK(config.get_text("device") == "cpu");
  CHECK(config.model()["dim"].as<int>() == 64);

  config.apply_override("train.steps=200");
  config.apply_override("optim.lr=3e-4");
  config.apply_override("data=synthetic");
  config.apply_override("device=cpu");
  config.apply_override("dtype=bf16");
  config.apply_override("model.dim=128");
  config.apply_override("model.heads=4");
  CHECK(config.get_int("train.steps") == 200);
  CHECK(config.get_real("optim.lr") == doctest::Approx(3e-4));
  CHECK(config.get_text("dtype") == "bf16");
  CHECK(config.model()["dim"].as<int>() == 128);
  CHECK(config.model()["heads"].as<int>() == 4);
  CHECK(config.model()["model"].as<std::string>() == "cortex");
  config.apply_override("model=gru");
  CHECK(config.model()["model"].as<std::string>() == "gru");
  CHECK_THROWS_AS(config.apply_override("model.a.b=1"), cortex::Error);
  CHECK(config.model()["name"].as<std::string>() == "cortex-xs");
}

TEST_CASE("config: unknown keys are refused with a suggestion") {
  TrainerConfig config;
  const std::string e1 = error_of([&] { config.apply_override("train.stpes=10"); });
  CHECK(contains(e1, "unknown key 'train.stpes'"));
  CHECK(contains(e1, "train.steps"));
  const std::string e2 = error_of([] { TrainerConfig::from_yaml("optim:\n  learning_rate: 0.1\n", "x.yaml"); });
  CHECK(contains(e2, "unknown key 'optim.learning_rate' in x.yaml"));
  const std::string e3 = error_of([&] { config.apply_override("bogus=1"); });
  CHECK(contains(e3, "unknown key 'bogus'"));
  const std::string e4 = error_of([] { TrainerConfig::from_yaml("train: 3\n", "x.yaml"); });
  CHECK(contains(e4, "'train' in x.yaml is a section"));
  // Unknown top-level keys of a file belong to the model; its parser rejects them.
}

TEST_CASE("config: bad values name the key, the value and why") {
  TrainerConfig config;
  CHECK(contains(error_of([&] { config.apply_override("train.steps=abc"); }), "'train.steps': 'abc' is not an integer"));
  CHECK(contains(error_of([&] { config.apply_override("train.steps=1.5"); }), "is not an integer"));
  CHECK(contains(error_of([&] { config.apply_override("train.batch_size=0"); }), "is outside [1"));
  CHECK(contains(error_of([&] { config.apply_override("optim.lr=fast"); }), "is not a finite number"));
  CHECK(contains(error_of([&] { config.apply_override("optim.lr=nan"); }), "is not a finite number"));
  CHECK(contains(error_of([&] { config.apply_override("dtype=fp8"); }), "is not one of: f32, bf16"));
  CHECK(contains(error_of([&] { config.apply_override("train.steps"); }), "not of the form key=value"));
  CHECK(contains(error_of([&] { config.apply_override("=3"); }), "not of the form key=value"));
  CHECK(contains(error_of([] { TrainerConfig::from_yaml("train:\n  steps: [1, 2]\n", "y.yaml"); }),
                 "must be a single value"));
  CHECK(contains(error_of([] { TrainerConfig::from_yaml("train: {steps: 3\n", "y.yaml"); }), "y.yaml is not valid YAML"));
  CHECK(contains(error_of([] { TrainerConfig::from_yaml("- 1\n- 2\n", "y.yaml"); }), "must be a YAML mapping"));
  // A failed override leaves the old value.
  CHECK(config.get_int("train.steps") == 1000);
}

TEST_CASE("config: a missing file is named") {
  const std::string e = error_of([] { TrainerConfig::from_file("/nonexistent/cortex-xs.yaml"); });
  CHECK(contains(e, "config file '/nonexistent/cortex-xs.yaml' does not exist"));
}

TEST_CASE("config: config.yaml round trip keeps every value; run name defaults to the file stem") {
  const auto dir = std::filesystem::temp_directory_path() / "cortex_test_config";
  std::filesystem::create_directories(dir);
  const auto path = (dir / "my-model.yaml").string();
  {
    std::ofstream out(path);
    out << "train:\n  steps: 12\nmodel: gru\nname: my-gru\nhidden_causal: 32\n";
  }
  TrainerConfig a = TrainerConfig::from_file(path);
  CHECK(a.get_text("run.name") == "my-model");
  a.apply_override("optim.eps=1e-6");
  a.apply_override("run.resume=latest");
  TrainerConfig b = TrainerConfig::from_yaml(a.to_yaml(), "round trip");
  CHECK(b.to_yaml() == a.to_yaml());
  CHECK(b.get_int("train.steps") == 12);
  CHECK(b.get_real("optim.eps") == doctest::Approx(1e-6));
  CHECK(b.get_text("run.resume") == "latest");
  CHECK(b.model()["hidden_causal"].as<int>() == 32);
  CHECK(b.model()["model"].as<std::string>() == "gru");
  std::filesystem::remove_all(dir);
}
