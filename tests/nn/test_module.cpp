#include <memory>

#include "nn/layers/embedding.h"
#include "nn/layers/linear.h"
#include "nn/layers/norm.h"
#include "nn/module.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;
using cortex::nn::Module;

namespace {

struct Attention : Module {
  std::shared_ptr<nn::Linear> qkv;
  explicit Attention(Generator* g) { qkv = register_module("qkv", std::make_shared<nn::Linear>(4, 12, true, g)); }
};

struct Block : Module {
  std::shared_ptr<nn::RMSNorm> norm;
  std::shared_ptr<Attention> attn;
  explicit Block(Generator* g) {
    norm = register_module("norm", std::make_shared<nn::RMSNorm>(4));
    attn = register_module("attn", std::make_shared<Attention>(g));
  }
};

struct Model : Module {
  std::shared_ptr<nn::Embedding> embed;
  std::shared_ptr<nn::ModuleList> blocks;
  Tensor scale, positions, cache;
  explicit Model(uint64_t seed = 1) {
    Generator g(seed);
    embed = register_module("embed", std::make_shared<nn::Embedding>(10, 4, &g));
    blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    blocks->push_back(std::make_shared<Block>(&g));
    blocks->push_back(std::make_shared<Block>(&g));
    scale = register_parameter("scale", full({1}, 0.5));
    positions = register_buffer("positions", arange(6));
    cache = register_buffer("cache", zeros({3}), /*persistent=*/false);
  }
  // Exposes the protected registration for the error tests.
  using Module::register_buffer;
  using Module::register_parameter;
};

std::vector<std::string> names_of(const std::vector<nn::NamedTensor>& named) {
  std::vector<std::string> out;
  for (const auto& [n, t] : named) out.push_back(n);
  return out;
}

}  // namespace

TEST_CASE("parameters get dotted names in registration order") {
  Model m;
  const std::vector<std::string> expected{"embed.weight",
                                          "blocks.0.norm.weight",
                                          "blocks.0.attn.qkv.weight",
                                          "blocks.0.attn.qkv.bias",
                                          "blocks.1.norm.weight",
                                          "blocks.1.attn.qkv.weight",
                                          "blocks.1.attn.qkv.bias",
                                          "scale"};
  // Own parameters come first, then children in order: "scale" belongs to the root.
  std::vector<std::string> got = names_of(m.named_parameters());
  CHECK(got.size() == expected.size());
  CHECK(got.front() == "scale");
  std::vector<std::string> rotated(expected.end() - 1, expected.end());
  rotated.insert(rotated.end(), expected.begin(), expected.end() - 1);
  CHECK(got == rotated);
  CHECK(m.parameters().size() == expected.size());
  CHECK(names_of(m.named_buffers()) == std::vector<std::string>{"positions", "cache"});
  CHECK(m.num_parameters() == 10 * 4 + 2 * (4 + 12 * 4 + 12) + 1);
  for (const auto& [name, p] : m.named_parameters()) {
    INFO(name);
    CHECK(p.requires_grad());
    CHECK(p.is_leaf());
  }
  // The handle kept in the field is the registered tensor itself.
  CHECK(m.blocks->get<Block>(1)->attn->qkv->weight.impl() == m.named_parameters()[6].second.impl());
  const auto modules = m.named_modules();
  CHECK(modules.size() == 1 + 1 + 1 + 2 * 4);
  CHECK(modules[0].first.empty());
  CHECK(modules[3].first == "blocks.0");
  CHECK(modules[5].first == "blocks.0.attn");
}

TEST_CASE("registration rejects bad and duplicate names") {
  Model m;
  CHECK_THROWS_WITH_AS(m.register_parameter("scale", zeros({2})), doctest::Contains("already registered"), Error);
  CHECK_THROWS_WITH_AS(m.register_buffer("embed", zeros({2})), doctest::Contains("already registered"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("a.b", zeros({2})), doctest::Contains("contains '.'"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("", zeros({2})), doctest::Contains("empty name"), Error);
  CHECK_THROWS_WITH_AS(m.register_parameter("undef", Tensor()), doctest::Contains("undefined"), Error);
  Tensor x = zeros({2});
  x.set_requires_grad();
  CHECK_THROWS_WITH_AS(m.register_parameter("nonleaf", mul(x, 2.0)), doctest::Contains("leaf"), Error);
  auto list = std::make_shared<nn::ModuleList>();
  auto inner = std::make_shared<nn::ModuleList>();
  list->push_back(inner);
  CHECK_THROWS_WITH_AS(inner->push_back(list), doctest::Contains("cycle"), Error);
  CHECK_THROWS_WITH_AS(list->get<nn::Linear>(0), doctest::Contains("another type"), Error);
  CHECK_THROWS_WITH_AS((*list)[5], doctest::Contains("out of range"), Error);
}

TEST_CASE("tied weights appear once") {
  struct Tied : Module {
    Tensor w;
    Tied() {
      w = register_parameter("w", zeros({2, 2}));
      register_parameter("w_again", w);
    }
  } t;
  CHECK(names_of(t.named_parameters()) == std::vector<std::string>{"w"});
  CHECK(t.num_parameters() == 4);
  CHECK(t.state_dict().size() == 1);
}

TEST_CASE("train and eval reach every descendant") {
  Model m;
  CHECK(m.is_training());
  m.eval();
  for (const auto& [name, mod] : m.named_modules()) {
    INFO(name);
    CHECK_FALSE(mod->is_training());
  }
  m.blocks->get<Block>(0)->train();
  CHECK(m.blocks->get<Block>(0)->attn->is_training());
  CHECK_FALSE(m.blocks->get<Block>(1)->attn->is_training());
  m.train();
  for (const auto& [name, mod] : m.named_modules()) CHECK(mod->is_training());
}

TEST_CASE("to(dtype) converts in place and keeps parameters trainable leaves") {
  Model m;
  auto lin = m.blocks->get<Block>(0)->attn->qkv;
  const auto before = values(lin->weight);
  lin->weight.set_grad(ones(lin->weight.shape()));
  const TensorImpl* impl = lin->weight.impl();
  m.to(DType::f64);
  CHECK(lin->weight.impl() == impl);  // same handle, new data
  CHECK(lin->weight.dtype() == DType::f64);
  CHECK(lin->weight.requires_grad());
  CHECK(lin->weight.is_leaf());
  CHECK(lin->weight.grad().dtype() == DType::f64);
  CHECK(values(lin->weight) == before);  // f32 -> f64 is exact
  CHECK(m.positions.dtype() == DType::i64);  // integer buffers keep their dtype
  for (const auto& [name, p] : m.named_parameters()) CHECK(p.dtype() == DType::f64);

  m.to(DType::bf16);
  CHECK(lin->weight.dtype() == DType::bf16);
  CHECK(lin->weight.requires_grad());
  // Gradients flow into the converted parameter.
  Tensor y = sum(lin->forward(ones({2, 4}, DType::bf16)));
  lin->weight.zero_grad();
  backward(y);
  REQUIRE(lin->weight.grad().defined());
  CHECK(lin->weight.grad().dtype() == DType::bf16);
  CHECK(values(lin->weight.grad())[0] == 2.0);

  m.to(Device::cpu());  // same device: nothing changes
  CHECK(lin->weight.impl() == impl);
  CHECK_THROWS_WITH_AS(m.to(DType::i32), doctest::Contains("floating"), Error);
}

CORTEX_GPU_TEST("to(device) moves every parameter and buffer and back") {
  Model m;
  const auto before = values(m.embed->weight);
  m.to(gpu());
  for (const auto& [name, p] : m.named_parameters()) {
    INFO(name);
    CHECK(p.device() == gpu());
    CHECK(p.requires_grad());
  }
  CHECK(m.positions.device() == gpu());
  m.to(Device::cpu());
  CHECK(values(m.embed->weight) == before);
}

TEST_CASE("zero_grad drops every gradient") {
  Model m;
  for (const Tensor& p : m.parameters()) p.set_grad(ones(p.shape()));
  m.zero_grad();
  for (const Tensor& p : m.parameters()) CHECK_FALSE(p.grad().defined());
}

TEST_CASE("state_dict round trip restores every value") {
  Model a(1), b(2);
  const auto sa = a.state_dict();
  CHECK(sa.names() == std::vector<std::string>{"scale", "positions", "embed.weight", "blocks.0.norm.weight",
                                               "blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias",
                                               "blocks.1.norm.weight", "blocks.1.attn.qkv.weight",
                                               "blocks.1.attn.qkv.bias"});
  CHECK_FALSE(sa.contains("cache"));  // non-persistent
  CHECK(values(a.embed->weight) != values(b.embed->weight));
  fill_(b.positions, 0);
  const TensorImpl* impl = b.embed->weight.impl();
  b.load_state_dict(sa);
  CHECK(b.embed->weight.impl() == impl);  // loaded into the existing tensor
  for (const auto& [name, t] : sa) {
    INFO(name);
    CHECK(values(b.state_dict().at(name)) == values(t));
  }
  // Loading a module's own state (aliasing memory) is a no-op, not an overlap error.
  a.load_state_dict(a.state_dict());
  CHECK(values(a.embed->weight) == values(sa.at("embed.weight")));
}

TEST_CASE("load_state_dict reports every mismatch at once and changes nothing") {
  Model m;
  const auto original = values(m.embed->weight);
  nn::StateDict bad;
  for (const auto& [name, t] : m.state_dict()) {
    if (name == "scale") continue;                                               // missing
    if (name == "embed.weight") bad.insert(name, zeros({4, 10}));                 // wrong shape
    else if (name == "blocks.1.norm.weight") bad.insert(name, zeros({4}, DType::f64));  // wrong dtype
    else bad.insert(name, t);
  }
  bad.insert("blocks.2.norm.weight", zeros({4}));  // unexpected
  std::string msg;
  try {
    m.load_state_dict(bad);
  } catch (const Error& e) {
    msg = e.what();
  }
  INFO(msg);
  CHECK(msg.find("4 problem(s)") != std::string::npos);
  CHECK(msg.find("missing 'scale'") != std::string::npos);
  CHECK(msg.find("'embed.weight' is f32[10, 4] in the module but f32[4, 10] in the state") != std::string::npos);
  CHECK(msg.find("'blocks.1.norm.weight' is f32[4] in the module but f64[4]") != std::string::npos);
  CHECK(msg.find("unexpected 'blocks.2.norm.weight'") != std::string::npos);
  CHECK(values(m.embed->weight) == original);

  // Non-strict loading tolerates missing and extra names but never a shape mismatch.
  nn::StateDict partial;
  partial.insert("blocks.0.norm.weight", full({4}, 3.0));
  partial.insert("something.else", zeros({1}));
  m.load_state_dict(partial, /*strict=*/false);
  CHECK(values(m.blocks->get<Block>(0)->norm->weight) == std::vector<double>(4, 3.0));
  nn::StateDict wrong;
  wrong.insert("scale", zeros({2}));
  CHECK_THROWS_WITH_AS(m.load_state_dict(wrong, false), doctest::Contains("'scale' is f32[1]"), Error);
}

TEST_CASE("StateDict keeps insertion order and rejects duplicates") {
  nn::StateDict s;
  s.insert("b", zeros({1}));
  s.insert("a", zeros({2}));
  CHECK(s.names() == std::vector<std::string>{"b", "a"});
  CHECK(s.at("a").numel() == 2);
  CHECK(s.find("c") == nullptr);
  CHECK_THROWS_WITH_AS(s.insert("a", zeros({1})), doctest::Contains("duplicate name 'a'"), Error);
  CHECK_THROWS_WITH_AS(s.at("zz"), doctest::Contains("'zz'"), Error);
}
