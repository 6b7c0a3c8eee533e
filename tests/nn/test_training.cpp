// End to end: modules, autograd, AdamW and checkpoints working together.
#include <chrono>
#include <filesystem>
#include <memory>

#include "nn/layers/linear.h"
#include "nn/optim/adamw.h"
#include "nn/optim/clip_grad.h"
#include "nn/safetensors.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;
namespace fs = std::filesystem;

namespace {

struct MLP : nn::Module {
  std::shared_ptr<nn::Linear> fc1, fc2;
  MLP(int64_t in, int64_t hidden, int64_t out, uint64_t seed, DType dtype = DType::f32) {
    Generator g(seed);
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(in, hidden, true, &g, dtype));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, out, true, &g, dtype));
  }
  Tensor forward(const Tensor& x) const { return fc2->forward(gelu(fc1->forward(x))); }
};

// A regression task from a fixed random "teacher" network.
struct Task {
  Tensor x, y;
  explicit Task(DType dtype = DType::f32) {
    x = random({256, 8}, 11, dtype);
    Tensor w1 = random({8, 16}, 12, dtype, Device::cpu(), 0.5), w2 = random({16, 2}, 13, dtype, Device::cpu(), 0.5);
    y = matmul(tanh(matmul(x, w1)), w2);
  }
};

Tensor mse(const Tensor& pred, const Tensor& target) { return mean(square(sub(pred, target))); }

double train_step(MLP& model, nn::optim::AdamW& opt, const Task& task) {
  opt.zero_grad();
  Tensor loss = mse(model.forward(task.x), task.y);
  backward(loss);
  nn::optim::clip_grad_norm(model.parameters(), 5.0);
  opt.step();
  return loss.item();
}

struct TempFile {
  std::string path;
  explicit TempFile(const std::string& name)
      : path((fs::temp_directory_path() / (name + std::to_string(::getpid()) + ".safetensors")).string()) {}
  ~TempFile() { fs::remove(path); }
};

}  // namespace

TEST_CASE("a 2-layer MLP trained with AdamW cuts its loss tenfold") {
  const auto start = std::chrono::steady_clock::now();
  MLP model(8, 32, 2, 1);
  Task task;
  nn::optim::AdamW opt(nn::optim::decay_groups(model, nn::optim::AdamWOptions{1e-2, 0.9, 0.99, 1e-8, 1e-4}));
  const double first = train_step(model, opt, task);
  double last = first;
  for (int s = 1; s < 300; ++s) last = train_step(model, opt, task);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  MESSAGE("loss ", first, " -> ", last, " in 300 steps, ", seconds, " s");
  CHECK(std::isfinite(last));
  CHECK(last * 10 < first);
}

TEST_CASE("training resumes bit for bit from safetensors checkpoints") {
  for (DType dtype : {DType::f32, DType::bf16}) {
    INFO(dtype_name(dtype));
    Task task(dtype);
    const nn::optim::AdamWOptions options{3e-3, 0.9, 0.95, 1e-8, 0.1};
    MLP a(8, 16, 2, 1, dtype);
    nn::optim::AdamW opt_a(nn::optim::decay_groups(a, options));
    for (int s = 0; s < 5; ++s) train_step(a, opt_a, task);
    TempFile model_file("cortex_resume_model_"), optim_file("cortex_resume_optim_");
    nn::save_safetensors(model_file.path, a.state_dict(), {{"step", "5"}});
    nn::save_safetensors(optim_file.path, opt_a.state_dict());
    for (int s = 0; s < 5; ++s) train_step(a, opt_a, task);

    MLP b(8, 16, 2, 99, dtype);  // different initial weights, all overwritten
    nn::optim::AdamW opt_b(nn::optim::decay_groups(b, options));
    const auto model_ckpt = nn::load_safetensors(model_file.path);
    CHECK(model_ckpt.metadata.at("step") == "5");
    b.load_state_dict(model_ckpt.tensors);
    opt_b.load_state_dict(nn::load_safetensors(optim_file.path).tensors);
    CHECK(opt_b.step_count("fc1.weight") == 5);
    for (int s = 0; s < 5; ++s) train_step(b, opt_b, task);
    for (const auto& [name, t] : a.state_dict()) {
      INFO(name);
      CHECK(values(b.state_dict().at(name)) == values(t));
    }
  }
}

TEST_CASE("AdamW load_state_dict reports every problem and keeps its state") {
  MLP model(3, 4, 2, 1);
  nn::optim::AdamW opt(model.named_parameters(), nn::optim::AdamWOptions{});
  for (const Tensor& p : model.parameters()) p.set_grad(ones(p.shape()));
  opt.step();
  nn::StateDict bad;
  for (const auto& [name, t] : opt.state_dict()) {
    if (name == "fc1.bias.exp_avg") continue;                                      // missing piece
    if (name == "fc2.weight.exp_avg_sq") bad.insert(name, zeros({4, 2}));           // wrong shape
    else if (name == "fc2.bias.step") bad.insert(name, full({}, 0, DType::i64));     // bad step
    else bad.insert(name, t);
  }
  bad.insert("fc3.weight.exp_avg", zeros({1}));  // unknown parameter
  bad.insert("fc1.weight.momentum", zeros({1}));  // unknown piece
  bad.insert("fc1.weight.master", zeros({4, 3}));  // f32 weights keep no master
  std::string msg;
  try {
    opt.load_state_dict(bad);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("6 problem(s)") != std::string::npos);
  CHECK(msg.find("missing 'fc1.bias.exp_avg'") != std::string::npos);
  CHECK(msg.find("'fc2.weight.exp_avg_sq' is f32[4, 2], expected f32[2, 4]") != std::string::npos);
  CHECK(msg.find("'fc2.bias.step' is 0") != std::string::npos);
  CHECK(msg.find("unknown parameter 'fc3.weight'") != std::string::npos);
  CHECK(msg.find("unexpected key 'fc1.weight.momentum'") != std::string::npos);
  CHECK(msg.find("keeps no master copy") != std::string::npos);
  CHECK(opt.step_count("fc1.weight") == 1);
}
