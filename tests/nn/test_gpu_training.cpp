// The GPU training path end to end: an MLP trained on the GPU (f32, and bf16 with f32 master
// weights) follows the same trajectory as the CPU reference from the same initial weights.
#include <memory>

#include "nn/layers/linear.h"
#include "nn/optim/adamw.h"
#include "nn/optim/clip_grad.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

struct SmallMLP : nn::Module {
  std::shared_ptr<nn::Linear> fc1, fc2;
  explicit SmallMLP(uint64_t seed) {
    Generator g(seed);
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(13, 33, true, &g));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(33, 3, true, &g));
  }
  Tensor forward(const Tensor& x) const { return fc2->forward(gelu(fc1->forward(x))); }
};

// Losses of `steps` AdamW steps on (x, y), all on x's device and in the model's dtype.
std::vector<double> train(SmallMLP& model, const Tensor& x, const Tensor& y, int steps) {
  nn::optim::AdamW opt(nn::optim::decay_groups(model, nn::optim::AdamWOptions{3e-3, 0.9, 0.99, 1e-8, 0.01}));
  std::vector<double> losses;
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    Tensor loss = mean(square(sub(model.forward(x), y)));
    backward(loss);
    nn::optim::clip_grad_norm(model.parameters(), 1.0);
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

}  // namespace

CORTEX_GPU_TEST("an MLP training step on the GPU matches the CPU (f32 closely, bf16 within bf16 tolerance)") {
  const Tensor x = random({129, 13}, 21, DType::f32), y = random({129, 3}, 22, DType::f32);
  SmallMLP cpu_model(5);
  const std::vector<double> cpu_losses = train(cpu_model, x, y, 10);

  for (DType dtype : {DType::f32, DType::bf16}) {
    INFO(dtype_name(dtype));
    SmallMLP gpu_model(5);
    gpu_model.to(gpu());
    gpu_model.to(dtype);
    const std::vector<double> gpu_losses =
        train(gpu_model, to(to(x, gpu()), dtype), to(to(y, gpu()), dtype), 10);
    const double tolerance = dtype == DType::f32 ? 1e-4 : 3e-2;
    for (size_t s = 0; s < cpu_losses.size(); ++s)
      CHECK(gpu_losses[s] == doctest::Approx(cpu_losses[s]).epsilon(tolerance));
    const auto cpu_params = cpu_model.named_parameters(), gpu_params = gpu_model.named_parameters();
    for (size_t i = 0; i < cpu_params.size(); ++i) {
      INFO(cpu_params[i].first);
      expect_close(data_to_dtype(data_to_device(gpu_params[i].second, Device::cpu()), DType::f32),
                   cpu_params[i].second, dtype == DType::f32 ? 1e-4 : 3e-2, dtype == DType::f32 ? 1e-5 : 1e-2);
    }
  }
}
