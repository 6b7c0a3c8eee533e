#pragma once
// bfloat16 and IEEE float16 storage types with round-to-nearest-even conversion.
// Arithmetic happens in float; these types only store.
#include <cstdint>
#include <cstring>

#include "engine/macros.h"

namespace cortex {

CORTEX_HD uint32_t float_bits(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}
CORTEX_HD float bits_float(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

CORTEX_HD uint16_t float_to_bf16_bits(float f) {
  uint32_t u = float_bits(f);
  if ((u & 0x7FFFFFFFu) > 0x7F800000u) return static_cast<uint16_t>((u >> 16) | 0x0040u);  // quiet NaN
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
CORTEX_HD float bf16_bits_to_float(uint16_t h) { return bits_float(static_cast<uint32_t>(h) << 16); }

CORTEX_HD uint16_t float_to_f16_bits(float f) {
  uint32_t x = float_bits(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  x &= 0x7FFFFFFFu;
  if (x >= 0x7F800000u) return sign | (x > 0x7F800000u ? 0x7E00u : 0x7C00u);
  if (x >= 0x477FF000u) return sign | 0x7C00u;  // >= 65520 rounds to infinity
  if (x < 0x38800000u) {                        // below the smallest normal half (2^-14)
    if (x < 0x33000000u) return sign;           // <= 2^-25 rounds to zero (tie goes to even 0)
    const uint32_t exponent = x >> 23;
    const uint32_t mantissa = (x & 0x7FFFFFu) | 0x800000u;
    const uint32_t shift = 126u - exponent;  // 14..24
    uint32_t n = mantissa >> shift;
    const uint32_t rem = mantissa & ((1u << shift) - 1u);
    const uint32_t half = 1u << (shift - 1u);
    if (rem > half || (rem == half && (n & 1u))) ++n;
    return sign | static_cast<uint16_t>(n);
  }
  uint32_t h = (x - 0x38000000u) >> 13;
  const uint32_t rem = x & 0x1FFFu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return sign | static_cast<uint16_t>(h);
}

CORTEX_HD float f16_bits_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exponent = (h >> 10) & 0x1Fu;
  const uint32_t mantissa = h & 0x3FFu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 5.9604644775390625e-8f;  // 2^-24
    return sign ? -magnitude : magnitude;
  }
  if (exponent == 31) return bits_float(sign | 0x7F800000u | (mantissa << 13));
  return bits_float(sign | ((exponent + 112u) << 23) | (mantissa << 13));
}

struct bfloat16 {
  uint16_t bits = 0;
  bfloat16() = default;
  CORTEX_HD explicit bfloat16(float f) : bits(float_to_bf16_bits(f)) {}
  CORTEX_HD operator float() const { return bf16_bits_to_float(bits); }
  CORTEX_HD static bfloat16 from_bits(uint16_t b) {
    bfloat16 r;
    r.bits = b;
    return r;
  }
};

struct float16 {
  uint16_t bits = 0;
  float16() = default;
  CORTEX_HD explicit float16(float f) : bits(float_to_f16_bits(f)) {}
  CORTEX_HD operator float() const { return f16_bits_to_float(bits); }
  CORTEX_HD static float16 from_bits(uint16_t b) {
    float16 r;
    r.bits = b;
    return r;
  }
};

}  // namespace cortex
