#pragma once
// Philox4x32-10 counter-based generator (Salmon et al., SC'11). Element i of a random
// tensor depends only on (seed, offset, i), so the CPU and CUDA kernels produce the same
// numbers and no generator state is shared between threads.
#include <cmath>
#include <cstdint>

#include "engine/macros.h"

namespace cortex::philox {

struct Block {
  uint32_t v[4];
};

CORTEX_HD void mulhilo(uint32_t a, uint32_t b, uint32_t& hi, uint32_t& lo) {
  const uint64_t p = static_cast<uint64_t>(a) * b;
  hi = static_cast<uint32_t>(p >> 32);
  lo = static_cast<uint32_t>(p);
}

// Four 32-bit random words for the 128-bit counter (block, stream) under key seed.
CORTEX_HD Block generate(uint64_t seed, uint64_t block, uint64_t stream) {
  uint32_t c0 = static_cast<uint32_t>(block), c1 = static_cast<uint32_t>(block >> 32);
  uint32_t c2 = static_cast<uint32_t>(stream), c3 = static_cast<uint32_t>(stream >> 32);
  uint32_t k0 = static_cast<uint32_t>(seed), k1 = static_cast<uint32_t>(seed >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, hi0, lo0);
    mulhilo(0xCD9E8D57u, c2, hi1, lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  return {{c0, c1, c2, c3}};
}

// Uniform in [0, 1) with 24 random bits: exact in float, so CPU and GPU agree bit for bit.
CORTEX_HD float to_uniform(uint32_t x) { return static_cast<float>(x >> 8) * (1.0f / 16777216.0f); }

// The i-th word of the stream (four words per Philox block).
CORTEX_HD uint32_t word(uint64_t seed, uint64_t stream, uint64_t i) {
  return generate(seed, i >> 2, stream).v[i & 3];
}

CORTEX_HD float uniform(uint64_t seed, uint64_t stream, uint64_t i) { return to_uniform(word(seed, stream, i)); }

// Standard normal via Box-Muller on the two words (2i, 2i+1) of the stream.
CORTEX_HD float normal(uint64_t seed, uint64_t stream, uint64_t i) {
  const Block b = generate(seed, i >> 1, stream);
  const uint32_t w0 = b.v[(i & 1) * 2], w1 = b.v[(i & 1) * 2 + 1];
  const float u1 = (static_cast<float>(w0 >> 8) + 1.0f) * (1.0f / 16777216.0f);  // (0, 1]
  const float u2 = to_uniform(w1);
  return sqrtf(-2.0f * logf(u1)) * cosf(6.283185307179586f * u2);
}

}  // namespace cortex::philox
