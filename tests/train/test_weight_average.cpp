// WeightAverage: the moving average with its warmed-up decay against hand computation, the
// exact swap in and out of the model (bf16 parameters too), and its checkpoint entries.
#include <doctest/doctest.h>

#include <cmath>

#include "engine/error.h"
#include "engine/factory.h"
#include "nn/layers/linear.h"
#include "tests/test_util.h"
#include "train/weight_average.h"

using namespace cortex;
using namespace cortex::train;
using cortex::test::values;

namespace {

class Net : public nn::Module {
 public:
  explicit Net(DType dtype, Generator* gen) {
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 2, true, gen, dtype));
  }
  std::shared_ptr<nn::Linear> fc;
};

std::vector<double> flat(const nn::Module& m) {
  std::vector<double> out;
  for (const Tensor& p : m.parameters())
    for (double v : values(p.detach())) out.push_back(v);
  return out;
}

void set_all(const nn::Module& m, double offset) {
  int64_t k = 0;
  for (const Tensor& p : m.parameters()) {
    std::vector<double> v(static_cast<size_t>(p.numel()));
    for (double& x : v) x = offset + 0.25 * static_cast<double>(k++);
    copy_(p.detach(), from_vector(v, p.shape()));
  }
}

}  // namespace

TEST_CASE("WeightAverage is d avg + (1 - d) param with d = min(decay, (1 + n) / (10 + n))") {
  Generator gen(1);
  Net net(DType::f32, &gen);
  set_all(net, 0.0);
  const std::vector<double> p0 = flat(net);
  WeightAverage avg(net, 0.5);
  std::vector<double> expected = p0;
  for (int n = 0; n < 12; ++n) {
    set_all(net, std::sin(n + 1.0));  // the "optimiser step"
    const std::vector<double> p = flat(net);
    const double d = std::min(0.5, (1.0 + n) / (10.0 + n));  // 0.1, 0.18, ... then 0.5 from n = 8
    for (size_t i = 0; i < p.size(); ++i) expected[i] = d * expected[i] + (1 - d) * p[i];
    avg.update();
  }
  CHECK(avg.updates() == 12);
  const std::vector<double> live = flat(net);
  const std::vector<Tensor> saved = avg.load_into_model();
  const std::vector<double> got = flat(net);
  REQUIRE(got.size() == expected.size());
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i] == doctest::Approx(expected[i]).epsilon(1e-6));
  avg.restore_model(saved);
  CHECK(flat(net) == live);
}

TEST_CASE("WeightAverage swaps bf16 parameters in and out bit for bit and keeps its f32 average") {
  Generator gen(2);
  Net net(DType::bf16, &gen);
  WeightAverage avg(net, 0.9);
  for (int n = 0; n < 5; ++n) {
    set_all(net, 0.1 * n + 0.01);
    avg.update();
  }
  const std::vector<double> live = flat(net);
  nn::StateDict before;
  avg.save_to(before, "avg/");
  const std::vector<Tensor> saved = avg.load_into_model();
  CHECK(flat(net) != live);
  avg.restore_model(saved);
  CHECK(flat(net) == live);
  // The average itself stays f32 (not rounded to bf16 by the round trip).
  nn::StateDict after;
  avg.save_to(after, "avg/");
  for (const auto& [name, t] : before) {
    CHECK(t.dtype() == DType::f32);
    CHECK(values(after.at(name)) == values(t));
  }
}

TEST_CASE("WeightAverage checkpoint entries round-trip and refuse what does not fit") {
  Generator gen(3);
  Net a(DType::f32, &gen), b(DType::f32, &gen);
  WeightAverage wa(a, 0.9), wb(b, 0.9);
  set_all(a, 1.0);
  wa.update();
  nn::StateDict state;
  wa.save_to(state, "w/");
  CHECK(state.contains("w/fc.weight"));
  CHECK(state.contains("w/fc.bias"));
  wb.load_from(state, "w/", wa.updates());
  CHECK(wb.updates() == 1);
  wa.load_into_model();
  wb.load_into_model();
  CHECK(flat(a) == flat(b));
  CHECK_THROWS_WITH_AS(wb.load_from(nn::StateDict(), "w/", 1), doctest::Contains("no averaged weights for 'fc.weight'"),
                       cortex::Error);
  CHECK_THROWS_WITH_AS(WeightAverage(a, 1.0), doctest::Contains("decay must be in (0, 1)"), cortex::Error);
}

TEST_CASE("the decay ramp: where it reaches the decay, and phases too short to reach it") {
  CHECK(ramped_decay(0.99, 0) == doctest::Approx(0.1));
  CHECK(ramped_decay(0.5, 100) == 0.5);
  for (const double d : {0.5, 0.9, 0.98, 0.99, 0.995}) {
    CAPTURE(d);
    const int64_t n = updates_to_reach(d);
    CHECK(ramped_decay(d, n) == d);
    CHECK((n == 0 || ramped_decay(d, n - 1) < d));
  }
  CHECK(updates_to_reach(0.99) == 890);
  CHECK(updates_to_reach(0.995) == 1790);
  // The 600-step Cortex-S recipe: 0.99 and 0.995 both end on the ramp, at the same value.
  const std::string note = ramp_shortfall(0.99, 600);
  CHECK(note.find("reached after 890 updates, but this phase has 600") != std::string::npos);
  CHECK(ramped_decay(0.99, 599) == ramped_decay(0.995, 599));
  CHECK(ramp_shortfall(0.99, 891).empty());
  CHECK(!ramp_shortfall(0.99, 890).empty());
  CHECK(ramp_shortfall(0.99, 0).empty());
}
