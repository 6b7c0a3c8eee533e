#pragma once
// The caching allocator's size arithmetic, kept free of CUDA so it is testable anywhere.
#include <cstddef>
#include <cstdint>

namespace cortex::cuda::alloc {

constexpr size_t kMiB = size_t(1) << 20;
constexpr size_t kMinBlockSize = 512;          // every block size is a multiple of this
constexpr size_t kSmallSize = 1 * kMiB;        // requests up to this come from the small pool
constexpr size_t kSmallSegment = 2 * kMiB;     // segment size of the small pool
constexpr size_t kMinLargeAlloc = 10 * kMiB;   // large requests below this share a kLargeSegment
constexpr size_t kLargeSegment = 20 * kMiB;
constexpr size_t kLargeRounding = 2 * kMiB;    // bigger segments are rounded to this
constexpr size_t kMaxRequest = size_t(1) << 50;  // 1 PiB: anything larger is an error, not an OOM
// A cached oversize block serves a request only if it wastes less than this.
constexpr size_t kOversizeSlack = kLargeSegment;

constexpr size_t round_up(size_t n, size_t multiple) { return (n + multiple - 1) / multiple * multiple; }

// Block size for a request of n bytes.
constexpr size_t round_size(size_t n) { return n == 0 ? kMinBlockSize : round_up(n, kMinBlockSize); }

constexpr bool is_small(size_t block_size) { return block_size <= kSmallSize; }

// Bytes to cudaMalloc for a new segment that will first serve a block of `block_size`.
constexpr size_t segment_size(size_t block_size) {
  if (is_small(block_size)) return kSmallSegment;
  if (block_size < kMinLargeAlloc) return kLargeSegment;
  return round_up(block_size, kLargeRounding);
}

// Requests and blocks above max_split (a multiple of kLargeRounding) are "oversize": their
// blocks are never split, so one huge cached block cannot be whittled into fragments.
// Segments of ordinary requests never exceed max_split, so the two kinds never mix.
constexpr bool is_oversize(size_t size, size_t max_split) { return size > max_split; }

// Whether a free block of `block_size` may serve a request of `request` bytes (both rounded):
// oversize blocks serve only oversize requests that fill them nearly.
constexpr bool can_serve(size_t block_size, size_t request, size_t max_split) {
  if (block_size < request) return false;
  if (!is_oversize(request, max_split)) return !is_oversize(block_size, max_split);
  return block_size < request + kOversizeSlack;
}

// Whether serving `request` from a block of `block_size` splits off the remainder as a free block.
constexpr bool should_split(size_t block_size, size_t request, bool small_pool, size_t max_split) {
  const size_t remaining = block_size - request;
  if (small_pool) return remaining >= kMinBlockSize;
  return !is_oversize(block_size, max_split) && remaining > kSmallSize;
}

}  // namespace cortex::cuda::alloc
