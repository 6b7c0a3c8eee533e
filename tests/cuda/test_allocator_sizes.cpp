// The caching allocator's size arithmetic: pure functions, checked on every machine.
#include "cuda/allocation_sizes.h"
#include "tests/test_util.h"

using namespace cortex::cuda::alloc;

TEST_CASE("allocator sizes: requests round up to 512-byte multiples") {
  CHECK(round_size(0) == 512);
  CHECK(round_size(1) == 512);
  CHECK(round_size(512) == 512);
  CHECK(round_size(513) == 1024);
  CHECK(round_size(1000000) == 1000448);
  for (size_t n : {size_t(1), size_t(511), size_t(4097), size_t(3) << 20, (size_t(7) << 30) + 3}) {
    CHECK(round_size(n) % kMinBlockSize == 0);
    CHECK(round_size(n) >= n);
    CHECK(round_size(n) - n < kMinBlockSize);
  }
}

TEST_CASE("allocator sizes: small requests share 2 MiB segments, large ones get bigger segments") {
  CHECK(is_small(kMiB));
  CHECK_FALSE(is_small(kMiB + 512));
  CHECK(segment_size(512) == 2 * kMiB);
  CHECK(segment_size(kMiB) == 2 * kMiB);
  CHECK(segment_size(kMiB + 512) == 20 * kMiB);
  CHECK(segment_size(10 * kMiB - 512) == 20 * kMiB);
  CHECK(segment_size(10 * kMiB) == 10 * kMiB);
  CHECK(segment_size(10 * kMiB + 512) == 12 * kMiB);
  CHECK(segment_size(301 * kMiB) == 302 * kMiB);
}

TEST_CASE("allocator sizes: splitting keeps remainders worth keeping") {
  const size_t max_split = 256 * kMiB;
  // Small pool: any remainder of at least one 512-byte block.
  CHECK(should_split(2 * kMiB, 1536, true, max_split));
  CHECK(should_split(2048, 1536, true, max_split));
  CHECK_FALSE(should_split(1536, 1536, true, max_split));
  // Large pool: only remainders above 1 MiB (smaller ones would feed only the small pool's sizes).
  CHECK(should_split(20 * kMiB, 2 * kMiB, false, max_split));
  CHECK_FALSE(should_split(3 * kMiB, 2 * kMiB, false, max_split));
  // Oversize blocks are never split.
  CHECK_FALSE(should_split(600 * kMiB, 300 * kMiB, false, max_split));
}

TEST_CASE("allocator sizes: oversize blocks serve only oversize requests that nearly fill them") {
  const size_t max_split = 256 * kMiB;
  CHECK(can_serve(20 * kMiB, 2 * kMiB, max_split));
  CHECK_FALSE(can_serve(2 * kMiB, 20 * kMiB, max_split));
  CHECK(can_serve(max_split, max_split, max_split));            // the largest ordinary block
  CHECK_FALSE(can_serve(300 * kMiB, 100 * kMiB, max_split));    // an ordinary request never takes an oversize block
  CHECK(can_serve(310 * kMiB, 300 * kMiB, max_split));          // within the slack
  CHECK_FALSE(can_serve(330 * kMiB, 300 * kMiB, max_split));    // would waste 30 MiB
  CHECK(is_oversize(segment_size(max_split + 512), max_split));
  CHECK_FALSE(is_oversize(segment_size(max_split), max_split));
}
