#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>

#include "autograd/backward.h"
#include "engine/error.h"
#include "engine/factory.h"
#include "nn/cortex/cortex.h"
#include "nn/optim/adamw.h"
#include "nn/optim/clip_grad.h"
#include "nn/optim/param_group.h"
#include "ops/ops.h"
#include "tools/cortex-train/commands.h"
#include "tools/cortex-train/config_args.h"
#include "train/trainer_factory.h"


namespace cortex::tools {
namespace {

int64_t int_flag(std::map<std::string, std::string>& flags, const std::string& name, int64_t fallback) {
  if (!flags.count(name)) return fallback;
  try {
    size_t used = 0;
    const int64_t v = std::stoll(flags[name], &used);
    CORTEX_CHECK(used == flags[name].size() && v >= 1, "bench-step", name, " must be a positive integer");
    return v;
  } catch (const std::logic_error&) {
    CORTEX_FAIL("bench-step", name, " must be a positive integer, got '", flags[name], "'");
  }
}

// Reading a value back waits for every kernel queued before it on the stream.
// Reading one element waits for the device to finish every queued step.
void synchronize(const nn::Module& model) {
  const Tensor first = model.parameters().front();
  (void)first.view_as_strided({}, {}, first.offset()).item();
}

}  // namespace

// One Cortex training step (forward, backward, clipping, AdamW) on synthetic batches of
// `batch` samples with exactly `events` events each, timed after warm-up.
int bench_step_command(const Args& args) {
  std::map<std::string, std::string> flags;
  train::TrainerConfig config =
      parse_config_args(args, {"--batch", "--events", "--device", "--dtype", "--steps", "--warmup"}, &flags);
  if (flags.count("--device")) config.set("device", flags["--device"]);
  if (flags.count("--dtype")) config.set("dtype", flags["--dtype"]);
  const int64_t batch = int_flag(flags, "--batch", 64);
  const int64_t events = int_flag(flags, "--events", 512);
  const int64_t steps = int_flag(flags, "--steps", 20);
  const int64_t warmup = int_flag(flags, "--warmup", 3);
  const train::TaskSettings s = train::task_settings(config);
  CORTEX_CHECK(config.model()["model"] && config.model()["model"].as<std::string>() == "cortex", "bench-step",
               "--config must name a Cortex config (e.g. configs/cortex-s.yaml)");
  const nn::CortexConfig c = nn::parse_model_config(config.model_yaml(), config.source_path()).cortex;

  Generator gen(s.seed);
  nn::Cortex model(c, &gen, s.dtype, s.device);
  model.train();
  nn::optim::AdamWOptions ao;
  ao.lr = 1e-4;
  nn::optim::AdamW opt(nn::optim::decay_groups(model, ao), true);

  // Random events over the window; queries at 10 times per sample (velocity every 100 ms).
  std::mt19937_64 rng(s.seed);
  std::uniform_real_distribution<double> time(0.0, c.window_ms);
  std::uniform_int_distribution<int32_t> unit(0, static_cast<int32_t>(std::min<int64_t>(c.unit_vocab, 200) - 1));
  std::uniform_int_distribution<int32_t> count(1, 2);
  nn::CortexInput input;
  nn::BehaviourQueries queries;
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<double> times(static_cast<size_t>(events));
    for (double& t : times) t = time(rng);
    std::sort(times.begin(), times.end());
    nn::SpikeEvents ev;
    for (double t : times) ev.push_back(unit(rng), count(rng), t);
    input.add_sample(ev, 0.0);
    std::vector<double> q;
    for (int k = 0; k < 10; ++k) q.push_back((k + 0.5) * c.window_ms / 10.0);
    queries.add_sample(q);
  }
  const Tensor target = randn({batch * 10, c.outputs}, DType::f32, s.device, &gen);

  auto one_step = [&] {
    const Tensor pred = to(model.forward(input, queries), DType::f32);
    backward(mse_loss(pred, target));
    nn::optim::clip_grad_norm(model.parameters(), 1.0);
    opt.step();
    model.zero_grad();
  };
  for (int64_t i = 0; i < warmup; ++i) one_step();
  synchronize(model);
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t i = 0; i < steps; ++i) one_step();
  synchronize(model);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double ms = 1000.0 * sec / static_cast<double>(steps);
  std::printf("bench-step %s (%lld parameters) on %s %s: batch %lld x %lld events, %lld steps after %lld warm-up\n",
              c.name.c_str(), static_cast<long long>(model.num_parameters()), s.device.str().c_str(),
              dtype_name(s.dtype), static_cast<long long>(batch), static_cast<long long>(events),
              static_cast<long long>(steps), static_cast<long long>(warmup));
  std::printf("%.2f ms/step  %.1f samples/s  %.0f events/s\n", ms, static_cast<double>(batch) / (ms / 1000.0),
              static_cast<double>(batch * events) / (ms / 1000.0));
  return 0;
}

}  // namespace cortex::tools
