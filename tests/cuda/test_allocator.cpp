// The CUDA caching allocator: reuse, splitting and coalescing, oversize blocks, statistics,
// out-of-memory errors, stream-ordered reuse and record_stream, private pools.
#ifdef CORTEX_WITH_CUDA
#include <algorithm>
#include <random>

#include "cuda/allocation_sizes.h"
#include "cuda/caching_allocator.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;
using cortex::cuda::alloc::kMiB;
using cortex::cuda::alloc::round_size;

namespace {

cuda::AllocatorStats stats() { return cuda::allocator_stats(0); }

const char* addr(const Tensor& t) { return static_cast<const char*>(t.data_ptr()); }

bool all_equal(const Tensor& t, float v) {
  for (float x : t.to_vector<float>())
    if (x != v) return false;
  return true;
}

}  // namespace

CORTEX_GPU_TEST("allocator: a freed block is reused on the same stream without cudaMalloc") {
  Tensor x = empty({1000}, DType::f32, gpu());
  const char* p = addr(x);
  x = Tensor();
  const uint64_t mallocs = stats().cuda_malloc_count;
  Tensor y = empty({1000}, DType::f32, gpu());
  CHECK(addr(y) == p);
  CHECK(stats().cuda_malloc_count == mallocs);
}

CORTEX_GPU_TEST("allocator: statistics follow allocations and frees") {
  const auto before = stats();
  {
    Tensor a = empty({1000}, DType::u8, gpu());
    Tensor b = empty({3, 1000}, DType::f32, gpu());
    Tensor c = empty({5 << 20}, DType::u8, gpu());
    const auto during = stats();
    CHECK(during.allocated_bytes - before.allocated_bytes == round_size(1000) + round_size(12000) + round_size(5 << 20));
    CHECK(during.requested_bytes - before.requested_bytes == 1000 + 12000 + (5 << 20));
    CHECK(during.active_blocks - before.active_blocks == 3);
    CHECK(during.reserved_bytes >= during.allocated_bytes);
    CHECK(during.peak_allocated_bytes >= during.allocated_bytes);
  }
  const auto after = stats();
  CHECK(after.allocated_bytes == before.allocated_bytes);
  CHECK(after.active_blocks == before.active_blocks);
  cuda::CachingAllocator::instance().reset_peak_stats(0);
  CHECK(stats().peak_allocated_bytes == after.allocated_bytes);
}

CORTEX_GPU_TEST("allocator: small blocks split one segment and coalesce when freed") {
  cuda::empty_cache();
  cuda::Stream fresh;  // its pool starts empty
  cuda::StreamGuard guard(fresh);
  const uint64_t mallocs = stats().cuda_malloc_count;
  Tensor a = empty({1000}, DType::u8, gpu());
  Tensor b = empty({1000}, DType::u8, gpu());
  Tensor c = empty({1000}, DType::u8, gpu());
  CHECK(stats().cuda_malloc_count == mallocs + 1);  // one 2 MiB segment serves all three
  CHECK(addr(b) == addr(a) + 1024);
  CHECK(addr(c) == addr(b) + 1024);
  const char* base = addr(a);
  a = Tensor();
  c = Tensor();
  // Free: a's 1 KiB and c merged with the segment's tail; b in between keeps them apart.
  auto s = stats();
  CHECK(s.largest_free_block == 2 * kMiB - 2048);
  CHECK(s.fragmentation > 0);
  b = Tensor();
  s = stats();
  CHECK(s.largest_free_block == 2 * kMiB);
  CHECK(s.fragmentation == 0);
  // The whole segment is one block again: a 1 MiB request starts at its base.
  Tensor d = empty({1 << 20}, DType::u8, gpu());
  CHECK(addr(d) == base);
  CHECK(stats().cuda_malloc_count == mallocs + 1);
}

CORTEX_GPU_TEST("allocator: oversize blocks are not split and serve only requests of their size") {
  const size_t max_split = cuda::CachingAllocator::instance().max_split_size();
  const int64_t oversize = static_cast<int64_t>(max_split + kMiB);
  Tensor big = empty({oversize}, DType::u8, gpu());
  const char* p = addr(big);
  big = Tensor();
  const uint64_t mallocs = stats().cuda_malloc_count;
  Tensor smaller = empty({static_cast<int64_t>(100 * kMiB)}, DType::u8, gpu());
  CHECK(addr(smaller) != p);
  Tensor again = empty({oversize}, DType::u8, gpu());
  CHECK(addr(again) == p);
  CHECK(stats().cuda_malloc_count <= mallocs + 1);  // only `smaller` may have needed a segment
}

CORTEX_GPU_TEST("allocator: out of memory names requested, allocated and reserved bytes") {
  const uint64_t ooms = stats().oom_count;
  Tensor keep = empty({1 << 20}, DType::f32, gpu());
  try {
    empty({int64_t(10) * 1000 * 1000 * 1000 * 1000}, DType::u8, gpu());  // 10 TB
    FAIL("a 10 TB allocation succeeded");
  } catch (const Error& e) {
    const std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("out of memory on cuda:0") != std::string::npos);
    CHECK(msg.find("requested 9.09 TiB (10000000000000 bytes") != std::string::npos);
    CHECK(msg.find("allocated by tensors") != std::string::npos);
    CHECK(msg.find("reserved by the cache") != std::string::npos);
  }
  CHECK(stats().oom_count == ooms + 1);
  CHECK(stats().alloc_retries >= 1);
  // The allocator still works, and live tensors are untouched.
  fill_(keep, 4.0);
  Tensor more = full({1000}, 1.0, DType::f32, gpu());
  CHECK(all_equal(keep, 4.0f));
  CHECK(all_equal(more, 1.0f));
}

CORTEX_GPU_TEST("allocator: empty_cache returns wholly free segments to CUDA") {
  { Tensor t = empty({static_cast<int64_t>(50 * kMiB)}, DType::u8, gpu()); }
  const auto before = stats();
  CHECK(before.reserved_bytes >= 50 * kMiB);
  cuda::empty_cache();
  const auto after = stats();
  CHECK(before.reserved_bytes - after.reserved_bytes >= 50 * kMiB);
  CHECK(after.cuda_free_count > before.cuda_free_count);
  CHECK(after.reserved_bytes >= after.allocated_bytes);
}

CORTEX_GPU_TEST("allocator: thousands of random allocations across two streams keep their data") {
  cuda::Stream side;
  const cudaStream_t main_stream = cuda::current_stream();
  const auto before = stats();
  struct Live {
    Tensor t;
    cudaStream_t stream;
    float value;
  };
  std::vector<Live> live;
  std::mt19937_64 rng(20240611);
  auto check_live = [&](size_t samples) {
    std::vector<const Live*> order;
    for (const Live& l : live) order.push_back(&l);
    std::sort(order.begin(), order.end(), [](const Live* x, const Live* y) { return addr(x->t) < addr(y->t); });
    for (size_t i = 1; i < order.size(); ++i)
      REQUIRE_MESSAGE(addr(order[i - 1]->t) + order[i - 1]->t.nbytes() <= addr(order[i]->t), "blocks overlap");
    for (size_t i = 0; i < samples && !live.empty(); ++i) {
      const Live& l = live[rng() % live.size()];
      cuda::StreamGuard guard(l.stream);  // read after the fill on the stream that wrote it
      REQUIRE_MESSAGE(all_equal(l.t, l.value), "data of a live tensor changed");
    }
  };
  for (int it = 0; it < 4000; ++it) {
    if (!live.empty() && (rng() % 100 < 45 || live.size() > 300)) {
      const size_t i = rng() % live.size();
      std::swap(live[i], live.back());
      live.pop_back();
      continue;
    }
    const cudaStream_t s = rng() % 2 ? main_stream : side.get();
    cuda::StreamGuard guard(s);
    // Log-uniform sizes from 4 bytes to 4 MiB, and now and then 8 to 40 MiB.
    const double exponent = std::uniform_real_distribution<double>(2, 22)(rng);
    int64_t bytes = static_cast<int64_t>(std::pow(2.0, exponent));
    if (rng() % 50 == 0) bytes = (8 + static_cast<int64_t>(rng() % 32)) << 20;
    const int64_t n = std::max<int64_t>(1, bytes / 4);
    const float value = static_cast<float>(it % 997) + 0.25f;
    Tensor t = empty({n}, DType::f32, gpu());
    fill_(t, value);
    live.push_back({t, s, value});
    if (it % 400 == 0) check_live(4);
  }
  check_live(live.size());
  const auto during = stats();
  size_t requested = 0, rounded = 0;
  for (const Live& l : live) {
    requested += l.t.nbytes();
    rounded += round_size(l.t.nbytes());
  }
  CHECK(during.requested_bytes - before.requested_bytes == requested);
  // A block is handed out whole when its remainder is too small to split, so it may exceed the rounded size.
  CHECK(during.allocated_bytes - before.allocated_bytes >= rounded);
  CHECK(during.allocated_bytes - before.allocated_bytes < rounded + live.size() * kMiB + kMiB);
  live.clear();
  CHECK(stats().allocated_bytes == before.allocated_bytes);
}

CORTEX_GPU_TEST("allocator: record_stream keeps a block from reuse until the other stream is done") {
  cuda::Stream side;
  const int64_t n = 1 << 20;
  const Tensor w = uniform({8192, 8192}, -1, 1, DType::bf16, gpu());
  cuda::stream_wait_stream(side, cuda::current_stream());
  {
    cuda::StreamGuard guard(side);
    matmul(w, w);  // creates the GEMM plan outside the timed part
    side.synchronize();
  }
  // x is written on the current stream, read late on `side` (after several long GEMMs),
  // then freed; z is allocated and written right after on the current stream.
  auto run = [&](bool record) {
    Tensor x = full({n}, 1.0, DType::f32, gpu());
    const char* xp = addr(x);
    cuda::stream_wait_stream(side, cuda::current_stream());
    Tensor y;
    {
      cuda::StreamGuard guard(side);
      for (int i = 0; i < 6; ++i) matmul(w, w);
      y = contiguous_copy(x);
    }
    if (record) cuda::record_stream(x, side);
    x = Tensor();
    Tensor z = full({n}, 2.0, DType::f32, gpu());
    const bool reused = addr(z) == xp;
    side.synchronize();
    cuda::StreamGuard guard(side);
    return std::make_pair(reused, y.to_vector<float>());
  };
  const auto [reused_plain, y_plain] = run(false);
  CHECK_MESSAGE(reused_plain, "without record_stream the block goes straight back to the pool");
  CHECK_MESSAGE(std::count(y_plain.begin(), y_plain.end(), 2.0f) > 0,
                "without record_stream the late reader should have seen the new owner's data");
  const auto [reused_recorded, y_recorded] = run(true);
  CHECK_FALSE(reused_recorded);
  CHECK(std::all_of(y_recorded.begin(), y_recorded.end(), [](float v) { return v == 1.0f; }));
}

CORTEX_GPU_TEST("allocator: a private pool's memory goes to no one else and is freed with its owner") {
  auto& allocator = cuda::CachingAllocator::instance();
  cuda::empty_cache();
  const size_t reserved0 = stats().reserved_bytes;
  const cuda::PoolId pool = allocator.create_private_pool(0);
  allocator.begin_allocate_to_pool(0, pool);
  Tensor inside = empty({1000}, DType::f32, gpu());
  allocator.end_allocate_to_pool(0);
  const char* p = addr(inside);
  CHECK(stats().reserved_bytes == reserved0 + 2 * kMiB);
  inside = Tensor();
  Tensor outside = empty({1000}, DType::f32, gpu());
  CHECK(addr(outside) != p);
  outside = Tensor();
  allocator.release_private_pool(0, pool);
  cuda::empty_cache();
  CHECK(stats().reserved_bytes == reserved0);
  CHECK_THROWS_AS(allocator.begin_allocate_to_pool(0, pool), Error);
}

CORTEX_GPU_TEST("allocator: record_stream rejects CPU tensors") {
  CHECK_THROWS_AS(cuda::record_stream(zeros({3}), cuda::current_stream()), Error);
}

#endif  // CORTEX_WITH_CUDA
