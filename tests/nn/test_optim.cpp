#include <cmath>
#include <memory>

#include "nn/layers/embedding.h"
#include "nn/layers/linear.h"
#include "nn/layers/norm.h"
#include "nn/optim/adamw.h"
#include "nn/optim/clip_grad.h"
#include "nn/optim/sgd.h"
#include "ops/kernels.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;
using namespace cortex::nn::optim;
using cortex::nn::NamedTensor;

namespace {

// AdamW as written in the paper (decoupled decay), in double.
struct RefAdamW {
  std::vector<double> p, m, v;
  int64_t t = 0;
  explicit RefAdamW(std::vector<double> init) : p(std::move(init)), m(p.size()), v(p.size()) {}
  void step(const std::vector<double>& g, const AdamWOptions& o) {
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] -= o.lr * o.weight_decay * p[i];
      m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
      v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
      const double mhat = m[i] / (1 - std::pow(o.beta1, static_cast<double>(t)));
      const double vhat = v[i] / (1 - std::pow(o.beta2, static_cast<double>(t)));
      p[i] -= o.lr * mhat / (std::sqrt(vhat) + o.eps);
    }
  }
};

struct RefSGD {
  std::vector<double> p, buf;
  explicit RefSGD(std::vector<double> init) : p(std::move(init)) {}
  void step(const std::vector<double>& g, const SGDOptions& o) {
    const bool first = buf.empty();
    if (first) buf.resize(p.size());
    for (size_t i = 0; i < p.size(); ++i) {
      double d = g[i] + o.weight_decay * p[i];
      if (o.momentum != 0) {
        buf[i] = first ? d : o.momentum * buf[i] + (1 - o.dampening) * d;
        d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
      }
      p[i] -= o.lr * d;
    }
  }
};

Tensor leaf(const Tensor& t) {
  t.set_requires_grad(true);
  return t;
}

}  // namespace

TEST_CASE("AdamW steps match the float64 reference formula") {
  const AdamWOptions o{/*lr=*/0.05, /*beta1=*/0.8, /*beta2=*/0.95, /*eps=*/1e-6, /*weight_decay=*/0.1};
  for (DType dtype : {DType::f64, DType::f32}) {
    INFO(dtype_name(dtype));
    for (int64_t n : kAwkwardSizes) {
      INFO("n=", n);
      Tensor p = leaf(random({n, 2}, 7 + n, dtype));
      RefAdamW ref(values(p));
      AdamW opt({{"p", p}}, o);
      for (int s = 0; s < 4; ++s) {
        Tensor g = random({n, 2}, 100 + s, dtype);
        p.set_grad(g);
        opt.step();
        ref.step(values(g), o);
      }
      CHECK(opt.step_count("p") == 4);
      const double tol = dtype == DType::f64 ? 1e-12 : 2e-6;
      expect_close(p, from_vector(ref.p, p.shape()), tol, tol, "params");
      const auto state = opt.state_dict();
      expect_close(state.at("p.exp_avg"), from_vector(ref.m, p.shape()), tol, tol, "exp_avg");
      expect_close(state.at("p.exp_avg_sq"), from_vector(ref.v, p.shape()), tol, tol, "exp_avg_sq");
    }
  }
}

TEST_CASE("AdamW weight decay is decoupled from the gradient") {
  // A zero gradient leaves the moments at zero, so only the decay acts: p *= 1 - lr * wd.
  Tensor p = leaf(from_vector(std::vector<double>{2.0, -4.0}, {2}));
  AdamW opt({{"p", p}}, AdamWOptions{0.1, 0.9, 0.999, 1e-8, 0.5});
  p.set_grad(zeros({2}, DType::f64));
  opt.step();
  CHECK(values(p) == std::vector<double>{2.0 * 0.95, -4.0 * 0.95});
}

TEST_CASE("AdamW skips parameters without gradients and keeps per-parameter steps") {
  Tensor a = leaf(random({3}, 1)), b = leaf(random({3}, 2));
  const auto b_before = values(b);
  AdamW opt({{"a", a}, {"b", b}}, AdamWOptions{});
  a.set_grad(ones({3}, DType::f64));
  opt.step();
  opt.step();
  CHECK(opt.step_count("a") == 2);
  CHECK(opt.step_count("b") == 0);
  CHECK(values(b) == b_before);
  CHECK_FALSE(opt.state_dict().contains("b.step"));
  // b joins late: its first update uses step 1 while a is at step 3 (two kernel calls).
  b.set_grad(ones({3}, DType::f64));
  RefAdamW ref(b_before);
  opt.step();
  ref.step({1, 1, 1}, AdamWOptions{});
  CHECK(opt.step_count("a") == 3);
  CHECK(opt.step_count("b") == 1);
  expect_close(b, from_vector(ref.p, {3}), 1e-12, 1e-12);
  opt.zero_grad();
  CHECK_FALSE(a.grad().defined());
  CHECK_THROWS_WITH_AS(opt.step_count("zz"), doctest::Contains("no parameter named 'zz'"), Error);
}

TEST_CASE("parameter groups have their own hyperparameters") {
  Tensor a = leaf(random({5}, 3)), b = leaf(random({5}, 4));
  const AdamWOptions oa{0.1, 0.9, 0.99, 1e-8, 0.0}, ob{0.01, 0.5, 0.9, 1e-4, 0.2};
  RefAdamW ra(values(a)), rb(values(b));
  AdamW opt({AdamWGroup{{{"a", a}}, oa}, AdamWGroup{{{"b", b}}, ob}});
  for (int s = 0; s < 3; ++s) {
    Tensor ga = random({5}, 10 + s), gb = random({5}, 20 + s);
    a.set_grad(ga);
    b.set_grad(gb);
    opt.step();
    ra.step(values(ga), oa);
    rb.step(values(gb), ob);
  }
  expect_close(a, from_vector(ra.p, {5}), 1e-12, 1e-12, "group 0");
  expect_close(b, from_vector(rb.p, {5}), 1e-12, 1e-12, "group 1");
  opt.set_lr(0.5);
  CHECK(opt.groups()[0].options.lr == 0.5);
  CHECK(opt.groups()[1].options.lr == 0.5);
}

TEST_CASE("decay groups leave biases, norm weights and embeddings undecayed") {
  struct Net : nn::Module {
    Net() {
      Generator g(3);
      register_module("embed", std::make_shared<nn::Embedding>(7, 4, &g));
      register_module("norm", std::make_shared<nn::LayerNorm>(4));
      register_module("fc", std::make_shared<nn::Linear>(4, 3, true, &g));
      register_module("rms", std::make_shared<nn::RMSNorm>(3));
      register_module("head", std::make_shared<nn::Linear>(3, 2, false, &g));
      frozen = register_parameter("frozen", zeros({2, 2}), /*requires_grad=*/false);
    }
    Tensor frozen;
  } net;
  const auto groups = decay_groups(net, AdamWOptions{1e-3, 0.9, 0.95, 1e-8, 0.1});
  REQUIRE(groups.size() == 2);
  std::vector<std::string> decay, no_decay;
  for (const auto& [n, t] : groups[0].params) decay.push_back(n);
  for (const auto& [n, t] : groups[1].params) no_decay.push_back(n);
  CHECK(decay == std::vector<std::string>{"fc.weight", "head.weight"});
  CHECK(no_decay == std::vector<std::string>{"embed.weight", "norm.weight", "norm.bias", "fc.bias", "rms.weight"});
  CHECK(groups[0].options.weight_decay == 0.1);
  CHECK(groups[1].options.weight_decay == 0.0);
  CHECK(groups[1].options.beta2 == 0.95);

  // Stepping with a zero gradient: only the decayed group shrinks.
  AdamW opt(groups);
  for (const Tensor& p : net.parameters()) p.set_grad(zeros(p.shape()));
  const auto embed_before = values(net.state_dict().at("embed.weight"));
  const auto fc_before = values(net.state_dict().at("fc.weight"));
  opt.step();
  CHECK(values(net.state_dict().at("embed.weight")) == embed_before);
  CHECK(values(net.state_dict().at("fc.weight")) != fc_before);
}

TEST_CASE("optimisers reject bad groups and options") {
  Tensor a = leaf(random({2}, 1));
  CHECK_THROWS_WITH_AS(AdamW({{"a", a}, {"a", leaf(random({2}, 2))}}, AdamWOptions{}),
                       doctest::Contains("'a' appears twice"), Error);
  CHECK_THROWS_WITH_AS(AdamW({{"a", a}, {"b", a}}, AdamWOptions{}), doctest::Contains("same tensor"), Error);
  CHECK_THROWS_WITH_AS(AdamW({{"a", a}}, AdamWOptions{1e-3, 1.0, 0.999, 1e-8, 0}), doctest::Contains("betas"), Error);
  CHECK_THROWS_WITH_AS(AdamW({{"i", zeros({2}, DType::i64)}}, AdamWOptions{}), doctest::Contains("floating leaf"),
                       Error);
  CHECK_THROWS_WITH_AS(SGD({{"a", a}}, SGDOptions{0.1, 0.0, 0.0, 0.0, true}), doctest::Contains("Nesterov"), Error);
  CHECK_THROWS_WITH_AS(SGD({{"a", a}}, SGDOptions{-0.1}), doctest::Contains("invalid options"), Error);
}

TEST_CASE("SGD with momentum, dampening, Nesterov and weight decay matches the reference") {
  const SGDOptions cases[] = {
      {0.1, 0.0, 0.0, 0.0, false},
      {0.1, 0.9, 0.0, 0.0, false},
      {0.05, 0.9, 0.3, 0.01, false},
      {0.05, 0.8, 0.0, 0.02, true},
  };
  for (const auto& o : cases) {
    INFO("momentum=", o.momentum, " nesterov=", o.nesterov, " dampening=", o.dampening);
    Tensor p = leaf(random({17}, 5));
    RefSGD ref(values(p));
    SGD opt({{"p", p}}, o);
    for (int s = 0; s < 4; ++s) {
      Tensor g = random({17}, 30 + s);
      p.set_grad(g);
      opt.step();
      ref.step(values(g), o);
    }
    expect_close(p, from_vector(ref.p, {17}), 1e-12, 1e-12);
    CHECK(opt.state_dict().contains("p.momentum_buffer") == (o.momentum != 0));
  }
}

TEST_CASE("SGD state round trip resumes exactly") {
  const SGDOptions o{0.05, 0.9, 0.0, 0.0, true};
  Tensor p = leaf(random({6}, 5)), q = leaf(contiguous_copy(p));
  SGD a({{"p", p}}, o);
  for (int s = 0; s < 2; ++s) {
    p.set_grad(random({6}, 40 + s));
    a.step();
  }
  SGD b({{"p", q}}, o);
  copy_(q, p);
  b.load_state_dict(a.state_dict());
  Tensor g = random({6}, 50);
  p.set_grad(g);
  q.set_grad(g);
  a.step();
  b.step();
  CHECK(values(p) == values(q));
  nn::StateDict bad;
  bad.insert("p.momentum_buffer", zeros({5}, DType::f64));
  bad.insert("r.momentum_buffer", zeros({5}, DType::f64));
  CHECK_THROWS_WITH_AS(b.load_state_dict(bad), doctest::Contains("2 problem(s)"), Error);
}

TEST_CASE("clip_grad_norm scales to max_norm and returns the norm before clipping") {
  Tensor a = leaf(zeros({2}, DType::f64)), b = leaf(zeros({2, 1}, DType::f64)), c = leaf(zeros({3}, DType::f64));
  a.set_grad(from_vector(std::vector<double>{3, 0}, {2}));
  b.set_grad(from_vector(std::vector<double>{0, 4}, {2, 1}));
  // c has no gradient.
  CHECK(grad_norm({a, b, c}) == doctest::Approx(5.0));
  const double norm = clip_grad_norm({a, b, c}, 1.0);
  CHECK(norm == doctest::Approx(5.0));
  CHECK(grad_norm({a, b, c}) == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(values(a.grad())[0] == doctest::Approx(0.6).epsilon(1e-6));
  CHECK(values(b.grad())[1] == doctest::Approx(0.8).epsilon(1e-6));
  CHECK_FALSE(c.grad().defined());

  // Below the limit nothing changes; the f32 path agrees.
  Tensor f = leaf(zeros({4}));
  f.set_grad(full({4}, 0.25, DType::f32));
  CHECK(clip_grad_norm({f}, 1.0) == doctest::Approx(0.5));
  CHECK(values(f.grad()) == std::vector<double>(4, 0.25));
  CHECK(clip_grad_norm({c}, 1.0) == 0.0);

  // A non-finite norm is reported and the gradients are left for the caller to inspect.
  f.set_grad(from_vector(std::vector<float>{1, INFINITY, 0, 0}, {4}));
  CHECK(std::isinf(clip_grad_norm({f}, 1.0)));
  CHECK(values(f.grad())[0] == 1.0);
  CHECK_THROWS_WITH_AS(clip_grad_norm({f}, 0.0), doctest::Contains("max_norm"), Error);
}

TEST_CASE("bf16 parameters keep an f32 master copy so small updates accumulate") {
  const AdamWOptions o{1e-3, 0.9, 0.999, 1e-8, 0.0};
  Tensor with = leaf(ones({4}, DType::bf16)), without = leaf(ones({4}, DType::bf16));
  AdamW a({{"w", with}}, o, /*master_weights=*/true);
  AdamW b({{"w", without}}, o, /*master_weights=*/false);
  RefAdamW ref(std::vector<double>(4, 1.0));
  for (int s = 0; s < 50; ++s) {
    with.set_grad(ones({4}, DType::bf16));
    without.set_grad(ones({4}, DType::bf16));
    a.step();
    b.step();
    ref.step(std::vector<double>(4, 1.0), o);
  }
  // Each update (~1e-3) is below half a bf16 step at 1.0 (2^-8), so the plain weight is stuck.
  CHECK(values(without) == std::vector<double>(4, 1.0));
  Tensor master = a.master("w");
  REQUIRE(master.defined());
  CHECK(master.dtype() == DType::f32);
  expect_close(master, from_vector(ref.p, {4}), 1e-5, 1e-6, "master follows the reference");
  CHECK(values(with) == values(data_to_dtype(master, DType::bf16)));  // the weight is the rounded master
  CHECK(values(with)[0] < 1.0);
  CHECK(a.state_dict().contains("w.master"));
  CHECK_FALSE(b.state_dict().contains("w.master"));
}

TEST_CASE("the AdamW kernel handles mixed lists with model copies") {
  const AdamWHyper h{0.01, 0.9, 0.99, 1e-8, 0.05, 3};
  Tensor p32 = random({17}, 1, DType::f32), p64 = random({3, 5}, 2), master = random({129}, 3, DType::f32);
  Tensor copy16 = empty({129}, DType::bf16);
  std::vector<Tensor> params{p32, p64, master};
  std::vector<Tensor> grads{random({17}, 4, DType::bf16), random({3, 5}, 5), random({129}, 6, DType::bf16)};
  std::vector<Tensor> m, v;
  for (const auto& p : params) {
    const DType sd = p.dtype() == DType::f64 ? DType::f64 : DType::f32;
    m.push_back(data_to_dtype(random_uniform(p.shape(), 7, -0.1, 0.1), sd));
    v.push_back(data_to_dtype(random_uniform(p.shape(), 8, 0.0, 0.1), sd));
  }
  std::vector<std::vector<double>> expect;
  for (size_t i = 0; i < params.size(); ++i) {
    auto pv = values(params[i]), gv = values(grads[i]), mv = values(m[i]), vv = values(v[i]);
    for (size_t j = 0; j < pv.size(); ++j) {
      pv[j] *= 1 - h.lr * h.weight_decay;
      mv[j] = h.beta1 * mv[j] + (1 - h.beta1) * gv[j];
      vv[j] = h.beta2 * vv[j] + (1 - h.beta2) * gv[j] * gv[j];
      pv[j] -= h.lr * (mv[j] / (1 - std::pow(h.beta1, 3))) / (std::sqrt(vv[j] / (1 - std::pow(h.beta2, 3))) + h.eps);
    }
    expect.push_back(pv);
  }
  adamw_kernel().get(Device::cpu())(params, grads, m, v, {Tensor(), Tensor(), copy16}, h);
  expect_close(p32, from_vector(expect[0], {17}), 1e-5, 1e-6, "f32 with bf16 grad");
  expect_close(p64, from_vector(expect[1], {3, 5}), 1e-12, 1e-12, "f64");
  expect_close(master, from_vector(expect[2], {129}), 1e-5, 1e-6, "master");
  CHECK(values(copy16) == values(data_to_dtype(master, DType::bf16)));
  CHECK_THROWS_WITH_AS(adamw_kernel().get(Device::cpu())({p32}, {grads[0]}, {m[0]}, {}, {}, h),
                       doctest::Contains("list lengths differ"), Error);
  CHECK_THROWS_WITH_AS(adamw_kernel().get(Device::cpu())({p32}, {grads[0]}, {m[1]}, {v[0]}, {}, h),
                       doctest::Contains("exp_avg 0 must be contiguous f32[17]"), Error);
}
