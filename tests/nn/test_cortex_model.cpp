// Cortex forward: shapes, packing, time-shift behaviour, input errors, gradients, training.
#include <cstring>

#include "nn/cortex/cortex.h"
#include "nn/cortex/masking.h"
#include "nn/cortex/objectives.h"
#include "nn/optim/adamw.h"
#include "ops/elementwise.h"
#include "ops/reduce.h"
#include "tests/nn/cortex_fixtures.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::nn;
using cortex::test::random_input;
using cortex::test::tiny_cortex_config;

namespace {

// Shifts every time in the batch (events, windows, queries) by dt.
void shift_times(CortexInput& in, BehaviourQueries& q, double dt) {
  for (double& t : in.events.time_ms) t += dt;
  for (double& t : in.window_start_ms) t += dt;
  for (double& t : q.time_ms) t += dt;
}

CortexInput one_sample(const CortexInput& in, int64_t b) {
  CortexInput out;
  out.add_sample(in.events.slice(in.segments.begin(b), in.segments.begin(b) + in.segments.size(b)),
                 in.window_start_ms[static_cast<size_t>(b)]);
  return out;
}

// Checks one float64 parameter element's analytic gradient against the central difference
// of `loss` (which must be deterministic) with respect to data[i].
template <typename LossFn>
void check_central_difference(double* data, int64_t i, double analytic, const LossFn& loss) {
  const double saved = data[i], eps = 1e-6;
  double plus, minus;
  {
    NoGradGuard no_grad;
    data[i] = saved + eps;
    plus = loss().item();
    data[i] = saved - eps;
    minus = loss().item();
    data[i] = saved;
  }
  const double numeric = (plus - minus) / (2 * eps);
  INFO("element ", i, " analytic ", analytic, " numeric ", numeric);
  CHECK(std::abs(analytic - numeric) <= 1e-7 + 1e-5 * std::abs(numeric));
}

}  // namespace

TEST_CASE("Cortex shapes: latents, behaviour and masked-spike outputs over packed samples") {
  const CortexConfig c = tiny_cortex_config();
  Generator gen(7);
  Cortex model(c, &gen);
  const CortexInput in = random_input(c, 1, {5, 0, 13});
  const BehaviourQueries q = test::queries_at_ends(in, c, {2, 1, 0});
  const Tensor latents = model.encode(in);
  CHECK(latents.shape() == Shape{3, c.latents, c.dim});
  const Tensor velocity = model.behaviour(latents, in.window_start_ms, q);
  CHECK(velocity.shape() == Shape{3, c.outputs});

  const MaskedBatch masked = mask_spike_cells(in, c.window_ms, c.bin_ms, 0.3, 11);
  REQUIRE(masked.queries.size() > 0);
  const Tensor rate =
      model.masked_spike_log_rate(model.encode(masked.input), masked.input.window_start_ms, masked.queries);
  CHECK(rate.shape() == Shape{masked.queries.size()});
  for (double v : test::values(velocity)) CHECK(std::isfinite(v));
}

TEST_CASE("each packed sample sees only its own events") {
  const CortexConfig c = tiny_cortex_config();
  Cortex model(c);
  model.eval();
  const CortexInput in = random_input(c, 2, {9, 4, 0, 17});
  const BehaviourQueries q = test::queries_at_ends(in, c, {1, 1, 1, 1});
  NoGradGuard no_grad;
  const Tensor batched = model.forward(in, q);
  for (int64_t b = 0; b < in.samples(); ++b) {
    INFO("sample ", b);
    const CortexInput alone = one_sample(in, b);
    const Tensor single = model.forward(alone, test::queries_at_ends(alone, c, {1}));
    test::expect_close(single, narrow(batched, 0, b, 1), 1e-5, 1e-6);
  }
}

TEST_CASE("outputs depend on time differences only: shifting all times leaves them unchanged") {
  const CortexConfig c = tiny_cortex_config();
  Cortex model(c, nullptr, DType::f64);
  model.eval();
  CortexInput in = random_input(c, 3, {11, 6});
  BehaviourQueries q = test::queries_at_ends(in, c, {3, 2});
  NoGradGuard no_grad;
  const Tensor before = model.forward(in, q);
  shift_times(in, q, 5432.25);
  const Tensor after = model.forward(in, q);
  test::expect_close(after, before, 1e-9, 1e-9);
  // ...but moving the events inside their windows does change them.
  for (double& t : in.events.time_ms) t = std::min(t + 3.0, in.window_start_ms.back() + c.window_ms - 0.5);
  CHECK(test::closeness(model.forward(in, q), before, 1e-6, 1e-6) > 1.0);
}

TEST_CASE("the time-bin embedding adds a window-relative bin token") {
  CortexConfig c = tiny_cortex_config();
  c.time_bin_embedding = true;
  Cortex model(c);
  const CortexInput in = random_input(c, 4, {6, 3});
  CHECK(model.encode(in).shape() == Shape{2, c.latents, c.dim});
  CHECK_THROWS_WITH_AS(model.event_kv(model.kv_tables(), in.events), doctest::Contains("time-bin embedding"), Error);
}

TEST_CASE("bad spike input raises clear errors") {
  const CortexConfig c = tiny_cortex_config();
  Cortex model(c);
  CortexInput in = random_input(c, 5, {4, 4});
  SUBCASE("unit outside the vocabulary") {
    in.events.unit[2] = static_cast<int32_t>(c.unit_vocab);
    CHECK_THROWS_WITH_AS(model.encode(in), doctest::Contains("outside the vocabulary"), Error);
  }
  SUBCASE("zero count") {
    in.events.count[1] = 0;
    CHECK_THROWS_WITH_AS(model.encode(in), doctest::Contains("count 0"), Error);
  }
  SUBCASE("event outside its window") {
    in.events.time_ms[5] = in.window_start_ms[1] - 1.0;
    CHECK_THROWS_WITH_AS(model.encode(in), doctest::Contains("outside sample 1's window"), Error);
  }
  SUBCASE("offsets that do not cover the events") {
    in.segments.offsets.back() = 7;
    CHECK_THROWS_WITH_AS(model.encode(in), doctest::Contains("offsets end at 7"), Error);
  }
  SUBCASE("ragged event lists") {
    in.events.time_ms.pop_back();
    CHECK_THROWS_WITH_AS(model.encode(in), doctest::Contains("one unit, count and time"), Error);
  }
  SUBCASE("queries for another number of samples") {
    BehaviourQueries q;
    q.add_sample({in.window_start_ms[0] + 1});
    CHECK_THROWS_WITH_AS(model.forward(in, q), doctest::Contains("describe 1 samples, expected 2"), Error);
  }
}

TEST_CASE("counts above max_count saturate") {
  const CortexConfig c = tiny_cortex_config();
  Cortex model(c);
  model.eval();
  CortexInput a = random_input(c, 6, {5});
  CortexInput b = a;
  a.events.count[0] = static_cast<int32_t>(c.max_count);
  b.events.count[0] = static_cast<int32_t>(c.max_count + 7);
  NoGradGuard no_grad;
  CHECK(test::closeness(model.encode(a), model.encode(b), 0, 0) <= 1.0);
}

TEST_CASE("dropout acts only in training mode") {
  CortexConfig c = tiny_cortex_config();
  c.dropout = 0.3;
  Generator gen(3);
  Cortex model(c, &gen);
  const CortexInput in = random_input(c, 8, {7, 5});
  NoGradGuard no_grad;
  const Tensor t1 = model.encode(in), t2 = model.encode(in);
  CHECK(test::closeness(t1, t2, 1e-6, 1e-6) > 1.0);
  model.eval();
  CHECK(test::closeness(model.encode(in), model.encode(in), 0, 0) <= 1.0);
}

TEST_CASE("drop path acts only in training and leaves the weights and eval outputs as without it") {
  CortexConfig plain = tiny_cortex_config(), dropping = tiny_cortex_config();
  plain.depth = dropping.depth = 3;
  dropping.drop_path = 0.5;
  Generator g1(3), g2(3);
  Cortex a(plain, &g1), b(dropping, &g2);
  CHECK(b.blocks->get<LatentBlock>(0)->drop_path->p() == 0.0);
  CHECK(b.blocks->get<LatentBlock>(2)->drop_path->p() == 0.5);
  const CortexInput in = random_input(plain, 8, {7, 5, 6, 4});
  NoGradGuard no_grad;
  // Training outputs vary with the drawn blocks; with every draw kept they would repeat.
  const Tensor t1 = b.encode(in), t2 = b.encode(in);
  CHECK(test::closeness(t1, t2, 1e-6, 1e-6) > 1.0);
  a.eval();
  b.eval();
  CHECK(a.named_parameters().size() == b.named_parameters().size());
  CHECK(test::closeness(a.encode(in), b.encode(in), 0, 0) <= 1.0);
}

TEST_CASE("a latent block with drop path: gradients match central differences for a fixed draw") {
  Generator gen(5);
  LatentBlock block(8, 2, 16, 0.0, 0.6, &gen, DType::f64, Device::cpu());
  const int64_t b = 6, l = 3;
  const Tensor x = test::random_uniform({b, l, 8}, 7, -1.0, 1.0, DType::f64);
  TimeRotary rotary(4, 2.0, 400.0);
  std::vector<double> times;
  for (int64_t i = 0; i < b * l; ++i) times.push_back(10.0 * static_cast<double>(i % l) + 3.0 * static_cast<double>(i / l));
  const RotaryAngles angles = rotary.angles(times, DType::f64, Device::cpu());
  const Tensor weights = test::random_uniform({b, l, 8}, 8, -1.0, 1.0, DType::f64);
  auto loss = [&] {
    gen.manual_seed(11);  // the same samples dropped on every evaluation
    return sum(mul(block.forward(x, angles), weights));
  };
  // The draw must drop some samples and keep others, or the check says little.
  {
    NoGradGuard no_grad;
    block.eval();
    const auto full = test::values(block.forward(x, angles));
    block.train();
    gen.manual_seed(11);
    const auto drawn = test::values(block.forward(x, angles));
    // A sample whose two branches were both dropped comes out as its input, exactly.
    const auto input = test::values(x);
    int64_t skipped = 0;
    for (int64_t s = 0; s < b; ++s) {
      const auto first = static_cast<std::ptrdiff_t>(s * l * 8), last = first + l * 8;
      skipped += std::equal(drawn.begin() + first, drawn.begin() + last, input.begin() + first) ? 1 : 0;
    }
    CHECK(skipped > 0);
    CHECK(skipped < b);
  }
  block.zero_grad();
  backward(loss());
  for (const auto& [name, param] : block.named_parameters()) {
    INFO(name);
    REQUIRE(param.grad().defined());
    const std::vector<double> analytic = test::values(param.grad());
    double* data = param.data<double>();
    for (int64_t i : {int64_t{0}, param.numel() / 2, param.numel() - 1})
      check_central_difference(data, i, analytic[static_cast<size_t>(i)], loss);
  }
}

TEST_CASE("gradients of a tiny Cortex match central differences in float64") {
  CortexConfig c = tiny_cortex_config();
  c.depth = 1;
  Generator gen(21);
  Cortex model(c, &gen, DType::f64);
  const CortexInput in = random_input(c, 9, {6, 3});
  const BehaviourQueries q = test::queries_at_ends(in, c, {2, 1});
  const MaskedBatch masked = mask_spike_cells(in, c.window_ms, c.bin_ms, 0.4, 5);
  REQUIRE(masked.queries.size() > 0);
  const std::vector<float> target{0.3f, -0.2f, 0.1f, 0.5f, -0.7f, 0.2f};
  auto loss = [&] {
    const Tensor behaviour = behaviour_loss(model.forward(in, q), target);
    const Tensor lat = model.encode(masked.input);
    return add(behaviour,
               masked_spike_loss(model.masked_spike_log_rate(lat, masked.input.window_start_ms, masked.queries),
                                 masked.queries));
  };
  model.zero_grad();
  backward(loss());
  const std::vector<std::string> checked{"tokenizer.unit.weight",    "tokenizer.count.weight",
                                         "encoder.latents",          "encoder.kv.weight",
                                         "encoder.q.weight",         "blocks.0.qkv.weight",
                                         "blocks.0.ffn.fc1.weight",  "behaviour_head.query",
                                         "behaviour_head.kv.weight", "masked_spike_head.readout.weight"};
  std::mt19937_64 rng(4);
  for (const auto& [name, param] : model.named_parameters()) {
    if (std::find(checked.begin(), checked.end(), name) == checked.end()) continue;
    INFO(name);
    REQUIRE(param.grad().defined());
    const std::vector<double> analytic = test::values(param.grad());
    double* data = param.data<double>();
    for (int k = 0; k < 4; ++k) {
      // Rows of the unit table that events use get gradient; pick among the used ids there.
      int64_t i = static_cast<int64_t>(rng() % static_cast<uint64_t>(param.numel()));
      if (name == "tokenizer.unit.weight") i = in.events.unit[static_cast<size_t>(k)] * c.dim + k;
      check_central_difference(data, i, analytic[static_cast<size_t>(i)], loss);
    }
  }
}

TEST_CASE("a tiny Cortex learns the toy task: the loss falls over 30 AdamW steps") {
  CortexConfig c = tiny_cortex_config();
  c.dim = 32;
  c.latents = 8;
  c.unit_vocab = 24;
  Generator gen(5);
  Cortex model(c, &gen);
  const test::ToyBatch batch = test::toy_batch(c, 8, 99);
  optim::AdamW opt(optim::decay_groups(model, optim::AdamWOptions{3e-3, 0.9, 0.999, 1e-8, 0.01}));
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    Tensor loss = behaviour_loss(model.forward(batch.input, batch.queries), batch.target);
    if (step == 0) first = loss.item();
    last = loss.item();
    backward(loss);
    opt.step();
  }
  MESSAGE("toy behaviour MSE: ", first, " -> ", last);
  CHECK(last < 0.5 * first);
}

TEST_CASE("masked-spike pre-training: the Poisson loss falls over 30 AdamW steps") {
  CortexConfig c = tiny_cortex_config();
  c.dim = 32;
  c.unit_vocab = 24;
  Generator gen(6);
  Cortex model(c, &gen);
  const test::ToyBatch batch = test::toy_batch(c, 8, 17);
  const MaskedBatch masked = mask_spike_cells(batch.input, c.window_ms, c.bin_ms, 0.25, 3);
  optim::AdamW opt(optim::decay_groups(model, optim::AdamWOptions{3e-3, 0.9, 0.999, 1e-8, 0.01}));
  double first = 0, last = 0;
  for (int step = 0; step < 30; ++step) {
    opt.zero_grad();
    const Tensor lat = model.encode(masked.input);
    Tensor loss = masked_spike_loss(model.masked_spike_log_rate(lat, masked.input.window_start_ms, masked.queries),
                                    masked.queries);
    if (step == 0) first = loss.item();
    last = loss.item();
    backward(loss);
    opt.step();
  }
  MESSAGE("masked-spike Poisson NLL: ", first, " -> ", last);
  CHECK(last < first - 0.1);
}

TEST_CASE("masking hides whole (unit, bin) cells and reports their counts") {
  const CortexConfig c = tiny_cortex_config();
  const CortexInput in = random_input(c, 10, {40, 25});
  const MaskedBatch m = mask_spike_cells(in, c.window_ms, c.bin_ms, 0.3, 8);
  CHECK(m.input.samples() == 2);
  double hidden_spikes = 0, all_spikes = 0, kept_spikes = 0;
  for (float t : m.queries.target) hidden_spikes += t;
  for (int32_t n : in.events.count) all_spikes += n;
  for (int32_t n : m.input.events.count) kept_spikes += n;
  CHECK(hidden_spikes + kept_spikes == all_spikes);
  CHECK(m.queries.size() > 0);
  CHECK(m.input.events.size() < in.events.size());
  // Deterministic per seed, different across seeds.
  CHECK(mask_spike_cells(in, c.window_ms, c.bin_ms, 0.3, 8).queries.unit == m.queries.unit);
  CHECK(mask_spike_cells(in, c.window_ms, c.bin_ms, 0.3, 9).queries.time_ms != m.queries.time_ms);
}

TEST_CASE("Cortex runs in bfloat16 close to its float32 self") {
  const CortexConfig c = tiny_cortex_config();
  Generator gen(31);
  Cortex model(c, &gen);
  model.eval();
  const CortexInput in = random_input(c, 12, {9, 4});
  const BehaviourQueries q = test::queries_at_ends(in, c, {2, 1});
  NoGradGuard no_grad;
  const Tensor f32 = model.forward(in, q);
  model.to(DType::bf16);
  const Tensor bf16 = model.forward(in, q);
  CHECK(bf16.dtype() == DType::bf16);
  test::expect_close(data_to_dtype(bf16, DType::f32), f32, 0.1, 0.1, "bf16 vs f32");
}

CORTEX_GPU_TEST("Cortex on the GPU matches the CPU forward and backward") {
  const CortexConfig c = tiny_cortex_config();
  Generator gen(32);
  Cortex cpu_model(c, &gen);
  Generator gen2(32);
  Cortex gpu_model(c, &gen2);
  gpu_model.to(test::gpu());
  const CortexInput in = random_input(c, 13, {9, 0, 4});
  const BehaviourQueries q = test::queries_at_ends(in, c, {2, 1, 1});
  const std::vector<float> target{0.1f, 0.2f, -0.3f, 0.4f, 0.5f, -0.6f, 0.7f, 0.8f};
  const Tensor loss_cpu = behaviour_loss(cpu_model.forward(in, q), target);
  const Tensor loss_gpu = behaviour_loss(gpu_model.forward(in, q), target);
  CHECK(loss_gpu.device() == test::gpu());
  CHECK(loss_gpu.item() == doctest::Approx(loss_cpu.item()).epsilon(1e-4));
  backward(loss_cpu);
  backward(loss_gpu);
  const auto cpu_params = cpu_model.named_parameters(), gpu_params = gpu_model.named_parameters();
  for (size_t i = 0; i < cpu_params.size(); ++i) {
    INFO(cpu_params[i].first);
    // The masked-spike head takes no part in the behaviour loss.
    REQUIRE(gpu_params[i].second.grad().defined() == cpu_params[i].second.grad().defined());
    if (!cpu_params[i].second.grad().defined()) continue;
    test::expect_close(data_to_device(gpu_params[i].second.grad(), Device::cpu()), cpu_params[i].second.grad(), 1e-3,
                       1e-5);
  }
}
