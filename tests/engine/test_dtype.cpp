#include <cmath>
#include <limits>

#include "tests/test_util.h"

using namespace cortex;

namespace {
// Reference rounding through double: the nearest representable value, ties to even mantissa.
double round_to_bf16_reference(float f) {
  if (std::isnan(f) || std::isinf(f)) return f;
  int exp;
  std::frexp(static_cast<double>(f), &exp);  // f = m * 2^exp, 0.5 <= |m| < 1
  const double ulp = std::ldexp(1.0, exp - 8);  // 8 significant bits
  const double q = static_cast<double>(f) / ulp;
  double r = std::nearbyint(q);  // default rounding mode: to nearest, ties to even
  return r * ulp;
}
}  // namespace

TEST_CASE("bf16 conversion rounds to nearest even") {
  CHECK(static_cast<float>(bfloat16(1.0f)) == 1.0f);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even mantissa (1.0).
  CHECK(static_cast<float>(bfloat16(1.0f + std::ldexp(1.0f, -8))) == 1.0f);
  // 1 + 3*2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even): rounds up.
  CHECK(static_cast<float>(bfloat16(1.0f + 3 * std::ldexp(1.0f, -8))) == 1.0f + std::ldexp(1.0f, -6));
  CHECK(std::isnan(static_cast<float>(bfloat16(std::nanf("")))));
  CHECK(std::isinf(static_cast<float>(bfloat16(INFINITY))));
  CHECK(static_cast<float>(bfloat16(-0.0f)) == 0.0f);
  CHECK(std::signbit(static_cast<float>(bfloat16(-0.0f))));
  // Exhaustive-ish sweep against the reference.
  Generator g(3);
  Tensor xs = normal({20000}, 0.0, 100.0, DType::f32, Device::cpu(), &g);
  const float* p = xs.data<float>();
  for (int i = 0; i < 20000; ++i) {
    const float f = p[i];
    REQUIRE(static_cast<double>(static_cast<float>(bfloat16(f))) == round_to_bf16_reference(f));
  }
  // Overflow: the largest finite float rounds to infinity in bf16.
  CHECK(std::isinf(static_cast<float>(bfloat16(std::numeric_limits<float>::max()))));
}

TEST_CASE("f16 conversion: normals, subnormals, overflow, ties") {
  CHECK(static_cast<float>(float16(1.0f)) == 1.0f);
  CHECK(static_cast<float>(float16(65504.0f)) == 65504.0f);
  CHECK(std::isinf(static_cast<float>(float16(65520.0f))));          // halfway to 2^16 rounds up to inf
  CHECK(static_cast<float>(float16(65519.0f)) == 65504.0f);
  CHECK(static_cast<float>(float16(std::ldexp(1.0f, -24))) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(static_cast<float>(float16(std::ldexp(1.0f, -25))) == 0.0f);  // tie between 0 and 2^-24: even is 0
  CHECK(static_cast<float>(float16(std::ldexp(1.5f, -25))) == std::ldexp(1.0f, -24));
  CHECK(static_cast<float>(float16(std::ldexp(3.0f, -25))) == std::ldexp(2.0f, -24));  // 1.5 ulp -> 2 (even)
  CHECK(static_cast<float>(float16(1.0f + std::ldexp(1.0f, -11))) == 1.0f);  // tie to even
  CHECK(static_cast<float>(float16(1.0f + 3 * std::ldexp(1.0f, -11))) == 1.0f + std::ldexp(1.0f, -9));
  CHECK(std::isnan(static_cast<float>(float16(std::nanf("")))));
  // Every f16 bit pattern survives a round trip through float.
  for (uint32_t b = 0; b < 0x10000; ++b) {
    const float16 h = float16::from_bits(static_cast<uint16_t>(b));
    const float f = h;
    if (std::isnan(f)) continue;
    REQUIRE(float16(f).bits == h.bits);
  }
}

TEST_CASE("dtype names round-trip and unknown names are rejected") {
  for (int i = 0; i < kNumDTypes; ++i) {
    const auto t = static_cast<DType>(i);
    CHECK(dtype_from_name(dtype_name(t)) == t);
  }
  CHECK_THROWS_WITH_AS(dtype_from_name("f8"), doctest::Contains("unknown dtype 'f8'"), Error);
  CHECK(dtype_size(DType::bf16) == 2);
  CHECK(dtype_size(DType::i64) == 8);
}

TEST_CASE("dtype conversion through copy_ between every pair") {
  const std::vector<double> v{0, 1, 2, 3, 100, 7, 1, 0, 5, 2, 9};
  Tensor src = from_vector(v, {11});
  for (int i = 0; i < kNumDTypes; ++i) {
    const auto t = static_cast<DType>(i);
    Tensor converted = data_to_dtype(src, t);
    Tensor back = data_to_dtype(converted, DType::f64);
    auto got = back.to_vector<double>();
    for (size_t j = 0; j < v.size(); ++j) {
      const double expected = t == DType::boolean ? (v[j] != 0) : v[j];
      CHECK_MESSAGE(got[j] == expected, dtype_name(t), " element ", j);
    }
  }
}
