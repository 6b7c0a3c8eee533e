#include <cmath>

#include "engine/philox.h"
#include "tests/test_util.h"

using namespace cortex;

TEST_CASE("Philox4x32-10 matches the published known-answer vectors") {
  // Random123 kat_vectors: philox4x32_10 with zero counter/key and with all-ones.
  const auto zero = philox::generate(0, 0, 0);
  CHECK(zero.v[0] == 0x6627e8d5u);
  CHECK(zero.v[1] == 0xe169c58du);
  CHECK(zero.v[2] == 0xbc57ac4cu);
  CHECK(zero.v[3] == 0x9b00dbd8u);
  const auto ones = philox::generate(~0ull, ~0ull, ~0ull);
  CHECK(ones.v[0] == 0x408f276du);
  CHECK(ones.v[1] == 0x41c83b0eu);
  CHECK(ones.v[2] == 0xa20bc7c6u);
  CHECK(ones.v[3] == 0x6d5451fdu);
  const auto pi = philox::generate(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull);
  CHECK(pi.v[0] == 0xd16cfe09u);
  CHECK(pi.v[1] == 0x94fdccebu);
  CHECK(pi.v[2] == 0x5001e420u);
  CHECK(pi.v[3] == 0x24126ea1u);
}

TEST_CASE("random tensors are deterministic per seed and have the right statistics") {
  Generator a(42), b(42), c(43);
  Tensor x = randn({100000}, DType::f32, Device::cpu(), &a);
  Tensor y = randn({100000}, DType::f32, Device::cpu(), &b);
  Tensor z = randn({100000}, DType::f32, Device::cpu(), &c);
  CHECK(x.to_vector<float>() == y.to_vector<float>());
  CHECK(x.to_vector<float>() != z.to_vector<float>());
  const double m = mean(x).item();
  const double var = mean(square(x)).item() - m * m;
  CHECK(std::abs(m) < 0.02);
  CHECK(std::abs(var - 1.0) < 0.02);

  Tensor u = uniform({100000}, -2.0, 3.0, DType::f64, Device::cpu(), &a);
  CHECK(max(u).item() < 3.0);
  CHECK(min(u).item() >= -2.0);
  CHECK(std::abs(mean(u).item() - 0.5) < 0.03);

  Tensor bern = bernoulli({100000}, 0.3, DType::f32, Device::cpu(), &a);
  CHECK(std::abs(mean(bern).item() - 0.3) < 0.01);

  Tensor ints = randint({100000}, -3, 4, DType::i64, Device::cpu(), &a);
  const auto iv = ints.to_vector<int64_t>();
  std::vector<int> hist(7, 0);
  for (int64_t v : iv) {
    REQUIRE(v >= -3);
    REQUIRE(v < 4);
    ++hist[static_cast<size_t>(v + 3)];
  }
  for (int h : hist) CHECK(std::abs(h - 100000 / 7) < 600);
}

TEST_CASE("successive draws from one generator differ and resume exactly") {
  Generator g(7);
  Tensor first = rand({16}, DType::f32, Device::cpu(), &g);
  const auto state_stream = g.stream();
  Tensor second = rand({16}, DType::f32, Device::cpu(), &g);
  CHECK(first.to_vector<float>() != second.to_vector<float>());
  Generator resumed(0);
  resumed.set_state(7, state_stream);
  CHECK(rand({16}, DType::f32, Device::cpu(), &resumed).to_vector<float>() == second.to_vector<float>());
}

TEST_CASE("random factories reject bad arguments") {
  CHECK_THROWS_WITH_AS(bernoulli({3}, 1.5), doctest::Contains("outside [0, 1]"), Error);
  CHECK_THROWS_WITH_AS(randint({3}, 5, 5), doctest::Contains("empty range"), Error);
  CHECK_THROWS_WITH_AS(randn({3}, DType::i32), doctest::Contains("floating"), Error);
}
