// CortexDecoder's CUDA-graph path: batches replayed through captured fixed-shape forwards
// decode like the eager path (the same weights in a decoder with cuda_graphs off) for mixed
// batch sizes and event counts, replayed many times with new inputs; each (source, batch
// bucket, event bucket) is captured once; batches beyond the buckets and bad windows behave
// as in the eager path; two threads decoding at once get the sequential results. Bucket
// selection, the CPU decoder and the switch run everywhere.
#include <atomic>
#include <random>
#include <set>
#include <thread>

#include "serve/config.h"
#include "serve/cortex_decoder.h"
#include "serve/graph_buckets.h"
#include "serve/worker_stream.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::serve;

namespace {

nn::CortexConfig small_cortex() {
  nn::CortexConfig c;
  c.name = "cortex-graph-test";
  c.dim = 64;
  c.depth = 2;
  c.heads = 2;
  c.latents = 16;
  c.unit_vocab = 50;
  c.max_count = 4;
  c.window_ms = 600.0;
  c.bin_ms = 10.0;
  return c;
}

// The same random weights twice: one decoder replays graphs, the other runs eagerly.
struct DecoderPair {
  std::unique_ptr<CortexDecoder> graphs, eager;
};

DecoderPair decoder_pair(DType dtype, int64_t max_batch, Device device) {
  DecoderPair p;
  for (bool use_graphs : {true, false}) {
    Generator gen(77);
    auto model = std::make_unique<nn::Cortex>(small_cortex(), &gen, DType::f32, device);
    model->to(dtype);
    CortexServingOptions opt;
    opt.version = "test";
    opt.cuda_graphs = use_graphs;
    opt.max_batch = max_batch;
    (use_graphs ? p.graphs : p.eager) = std::make_unique<CortexDecoder>(std::move(model), opt);
  }
  return p;
}

// A window ending at end_ms with n events of random units, counts 1..6, sorted times.
Window random_window(std::mt19937_64& rng, double end_ms, int64_t n, double length) {
  std::uniform_real_distribution<double> t(end_ms - length, end_ms);
  std::uniform_int_distribution<int32_t> unit(0, 49), count(1, 6);
  std::vector<double> times(static_cast<size_t>(n));
  for (double& x : times) x = t(rng);
  std::sort(times.begin(), times.end());
  Window w;
  w.end_ms = end_ms;
  for (double x : times) {
    w.units.push_back(unit(rng));
    w.counts.push_back(count(rng));
    w.times_ms.push_back(x);
  }
  return w;
}

std::vector<const Window*> pointers(const std::vector<Window>& windows) {
  std::vector<const Window*> out;
  for (const Window& w : windows) out.push_back(&w);
  return out;
}

// max |a - b| over the batch relative to the largest |b|.
double batch_relative_error(const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0, scale = 1e-12;
  for (const auto& row : b)
    for (float v : row) scale = std::max(scale, static_cast<double>(std::abs(v)));
  for (size_t i = 0; i < a.size(); ++i) {
    REQUIRE(a[i].size() == b[i].size());
    for (size_t c = 0; c < a[i].size(); ++c) worst = std::max(worst, std::abs(static_cast<double>(a[i][c]) - b[i][c]));
  }
  return worst / scale;
}

// Batches of mixed sizes whose windows hold 0 to ~900 events (some batches past one event bucket).
std::vector<std::vector<Window>> mixed_batches(uint64_t seed, double length) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int64_t> small(0, 40), large(200, 900);
  std::vector<std::vector<Window>> batches;
  double end = 5000.0;
  for (int64_t size : {1, 3, 5, 16, 2, 9, 3, 1, 16, 7}) {
    std::vector<Window> batch;
    for (int64_t i = 0; i < size; ++i) {
      const int64_t n = i == 1 ? 0 : (i % 3 == 0 ? large(rng) : small(rng));
      batch.push_back(random_window(rng, end, n, length));
      end += 37.5;
    }
    batches.push_back(std::move(batch));
  }
  return batches;
}

int64_t total_events(const std::vector<Window>& batch) {
  int64_t n = 0;
  for (const Window& w : batch) n += static_cast<int64_t>(w.size());
  return n;
}

// The graphs a sequence of batches needs: one per (batch bucket, event bucket).
std::set<std::pair<int64_t, int64_t>> buckets_of(const std::vector<std::vector<Window>>& batches, int64_t max_batch) {
  const GraphBuckets shapes(max_batch);
  std::set<std::pair<int64_t, int64_t>> keys;
  for (const auto& b : batches)
    keys.insert({*shapes.batch_bucket(static_cast<int64_t>(b.size())), *GraphBuckets::event_bucket(total_events(b))});
  return keys;
}

// Graph decodes vs eager decodes of the same batches, twice: the second round captures nothing.
void check_graphs_match_eager(DType dtype, double tolerance) {
  const int64_t max_batch = 16;
  DecoderPair p = decoder_pair(dtype, max_batch, test::gpu());
  REQUIRE(p.graphs->uses_graphs());
  REQUIRE_FALSE(p.eager->uses_graphs());
  const double length = p.graphs->info().window_ms;
  const auto batches = mixed_batches(90, length);
  const int64_t expected = static_cast<int64_t>(buckets_of(batches, max_batch).size());
  REQUIRE(expected >= 4);  // several batch and event buckets, and buckets shared by batches
  REQUIRE(expected < static_cast<int64_t>(batches.size()));
  for (int round = 0; round < 2; ++round)
    for (size_t i = 0; i < batches.size(); ++i) {
      INFO(dtype_name(dtype), " round ", round, " batch ", i, ": ", batches[i].size(), " windows, ",
           total_events(batches[i]), " events");
      const auto graph_out = p.graphs->decode(pointers(batches[i]));
      const auto eager_out = p.eager->decode(pointers(batches[i]));
      CHECK(batch_relative_error(graph_out, eager_out) <= tolerance);
    }
  CHECK(p.graphs->graph_captures() == expected);
  CHECK(p.eager->graph_captures() == 0);
}

// The streaming path: rows from encode_events, decoded from the cache's layout.
void check_cached_graphs_match_eager(DType dtype, double tolerance) {
  const int64_t max_batch = 16;
  DecoderPair p = decoder_pair(dtype, max_batch, test::gpu());
  const double length = p.graphs->info().window_ms;
  const auto batches = mixed_batches(91, length);
  for (int round = 0; round < 2; ++round)
    for (size_t i = 0; i < batches.size(); ++i) {
      INFO(dtype_name(dtype), " round ", round, " batch ", i, ": ", batches[i].size(), " windows");
      std::vector<CachedWindow> cached;
      for (const Window& w : batches[i]) cached.push_back({p.graphs->encode_events(w), w.times_ms, w.end_ms});
      std::vector<const CachedWindow*> ptrs;
      for (const CachedWindow& c : cached) ptrs.push_back(&c);
      const auto graph_out = p.graphs->decode_cached(ptrs);
      CHECK(batch_relative_error(graph_out, p.eager->decode_cached(ptrs)) <= tolerance);
      CHECK(batch_relative_error(graph_out, p.eager->decode(pointers(batches[i]))) <= tolerance);
    }
  CHECK(p.graphs->graph_captures() == static_cast<int64_t>(buckets_of(batches, max_batch).size()));
}

}  // namespace

TEST_CASE("graph buckets: powers of two up to the largest batch, event buckets from 1024") {
  const GraphBuckets b(100);
  CHECK(b.batch_buckets() == std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 100});
  CHECK(b.batch_bucket(1) == 1);
  CHECK(b.batch_bucket(3) == 4);
  CHECK(b.batch_bucket(64) == 64);
  CHECK(b.batch_bucket(65) == 100);
  CHECK(b.batch_bucket(100) == 100);
  CHECK_FALSE(b.batch_bucket(101));
  CHECK(GraphBuckets(1).batch_buckets() == std::vector<int64_t>{1});
  CHECK(GraphBuckets(64).batch_buckets() == std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64});
  CHECK(GraphBuckets::event_bucket(0) == 1024);
  CHECK(GraphBuckets::event_bucket(1024) == 1024);
  CHECK(GraphBuckets::event_bucket(1025) == 2048);
  CHECK(GraphBuckets::event_bucket(GraphBuckets::kMaxEvents) == GraphBuckets::kMaxEvents);
  CHECK_FALSE(GraphBuckets::event_bucket(GraphBuckets::kMaxEvents + 1));
  CHECK_THROWS_WITH_AS(GraphBuckets(0), doctest::Contains("GraphBuckets: the largest batch must be >= 1"), Error);
  CHECK_THROWS_WITH_AS(b.batch_bucket(0), doctest::Contains("a batch has >= 1 window"), Error);
  CHECK_THROWS_WITH_AS(GraphBuckets::event_bucket(-1), doctest::Contains("a batch has >= 0 events"), Error);
}

TEST_CASE("cuda_graphs setting: on by default, off through CORTEX_CUDA_GRAPHS=0 or --cuda-graphs false") {
  const char* none[] = {"cortex-serve"};
  CHECK(load_config(1, none, {}).cuda_graphs);
  CHECK_FALSE(load_config(1, none, {{"CORTEX_CUDA_GRAPHS", "0"}}).cuda_graphs);
  const char* flag[] = {"cortex-serve", "--cuda-graphs", "false"};
  CHECK_FALSE(load_config(3, flag, {{"CORTEX_CUDA_GRAPHS", "1"}}).cuda_graphs);
  CHECK_THROWS_WITH_AS(load_config(1, none, {{"CORTEX_CUDA_GRAPHS", "maybe"}}),
                       doctest::Contains("cuda_graphs expects true or false"), Error);
}

TEST_CASE("a Cortex decoder on the CPU never uses graphs") {
  DecoderPair p = decoder_pair(DType::f32, 8, Device::cpu());
  CHECK_FALSE(p.graphs->uses_graphs());
  p.graphs->warm_up(64);
  std::mt19937_64 rng(5);
  const std::vector<Window> batch{random_window(rng, 2000.0, 30, 600.0), random_window(rng, 2100.0, 0, 600.0)};
  CHECK(batch_relative_error(p.graphs->decode(pointers(batch)), p.eager->decode(pointers(batch))) == 0);
  CHECK(p.graphs->graph_captures() == 0);
}

CORTEX_GPU_TEST("graph decodes equal eager decodes on the GPU (f32, 1e-4), each bucket captured once") {
  check_graphs_match_eager(DType::f32, 1e-4);
}

CORTEX_GPU_TEST("graph decodes equal eager decodes on the GPU (bf16, 2e-2)") {
  check_graphs_match_eager(DType::bf16, 2e-2);
}

CORTEX_GPU_TEST("graph decodes from cached rows equal eager decodes on the GPU (f32 1e-4, bf16 2e-2)") {
  check_cached_graphs_match_eager(DType::f32, 1e-4);
  check_cached_graphs_match_eager(DType::bf16, 2e-2);
}

CORTEX_GPU_TEST("graph warm-up captures every batch bucket for both sources; larger batches run eagerly") {
  DecoderPair p = decoder_pair(DType::f32, 8, test::gpu());
  p.graphs->warm_up(64);
  CHECK(p.graphs->graph_captures() == 2 * 4);  // batches 1, 2, 4, 8; tokens and cached rows
  std::mt19937_64 rng(6);
  std::vector<Window> batch;
  for (int i = 0; i < 9; ++i) batch.push_back(random_window(rng, 3000.0 + 10.0 * i, 20, 600.0));
  // Past the largest bucket: the eager path, no new graph.
  CHECK(batch_relative_error(p.graphs->decode(pointers(batch)), p.eager->decode(pointers(batch))) <= 1e-4);
  CHECK(p.graphs->graph_captures() == 8);
  // One window of more events than the largest event bucket: eager too.
  const std::vector<Window> huge{random_window(rng, 4000.0, GraphBuckets::kMaxEvents + 1, 600.0)};
  CHECK(batch_relative_error(p.graphs->decode(pointers(huge)), p.eager->decode(pointers(huge))) <= 1e-4);
  CHECK(p.graphs->graph_captures() == 8);
}

CORTEX_GPU_TEST("graph decodes refuse bad windows as the eager path does, and keep working") {
  DecoderPair p = decoder_pair(DType::f32, 4, test::gpu());
  std::mt19937_64 rng(7);
  std::vector<Window> batch{random_window(rng, 2000.0, 10, 600.0), random_window(rng, 2050.0, 10, 600.0)};
  batch[1].units[3] = 50;  // outside the vocabulary
  CHECK_THROWS_WITH_AS(p.graphs->decode(pointers(batch)), doctest::Contains("unit id 50, outside the vocabulary"),
                       Error);
  CHECK_THROWS_WITH_AS(p.eager->decode(pointers(batch)), doctest::Contains("unit id 50, outside the vocabulary"),
                       Error);
  batch[1].units[3] = 49;
  batch[0].times_ms[0] = batch[0].end_ms - 700.0;  // before the window
  CHECK_THROWS_WITH_AS(p.graphs->decode(pointers(batch)), doctest::Contains("lies outside the window"), Error);
  batch[0].times_ms[0] = batch[0].end_ms - 599.0;
  CHECK(batch_relative_error(p.graphs->decode(pointers(batch)), p.eager->decode(pointers(batch))) <= 1e-4);
}

// Two worker threads, each on its own stream as in the server, decode different batches
// through graphs at the same time, many rounds; batches of the same bucket in both threads
// make the pool capture a second instance. Every result equals the sequential decode.
CORTEX_GPU_TEST("concurrent graph decodes from two threads equal sequential decodes") {
  const int64_t max_batch = 16;
  Generator gen(77);
  auto model = std::make_unique<nn::Cortex>(small_cortex(), &gen, DType::f32, test::gpu());
  CortexServingOptions opt;
  opt.version = "test";
  opt.max_batch = max_batch;
  opt.concurrent_batches = 2;
  CortexDecoder decoder(std::move(model), opt);
  REQUIRE(decoder.uses_graphs());
  const double length = decoder.info().window_ms;
  const std::vector<std::vector<std::vector<Window>>> per_thread{mixed_batches(92, length), mixed_batches(93, length)};

  // Sequential references (one thread, one instance per bucket), and each window's cached rows.
  std::vector<std::vector<std::vector<std::vector<float>>>> expected(2), expected_cached(2);
  std::vector<std::vector<std::vector<CachedWindow>>> cached(2);
  for (size_t t = 0; t < 2; ++t)
    for (const auto& batch : per_thread[t]) {
      expected[t].push_back(decoder.decode(pointers(batch)));
      std::vector<CachedWindow> rows;
      for (const Window& w : batch) rows.push_back({decoder.encode_events(w), w.times_ms, w.end_ms});
      std::vector<const CachedWindow*> ptrs;
      for (const CachedWindow& c : rows) ptrs.push_back(&c);
      expected_cached[t].push_back(decoder.decode_cached(ptrs));  // its host copy waits for the rows too
      cached[t].push_back(std::move(rows));
    }
  const int64_t sequential_captures = decoder.graph_captures();

  std::atomic<int> mismatches{0}, failures{0};
  std::atomic<bool> go{false};
  auto work = [&](size_t t) {
    try {
      use_worker_stream(test::gpu());
      while (!go) std::this_thread::yield();
      for (int round = 0; round < 25; ++round)
        for (size_t i = 0; i < per_thread[t].size(); ++i) {
          if (batch_relative_error(decoder.decode(pointers(per_thread[t][i])), expected[t][i]) > 1e-6) ++mismatches;
          std::vector<const CachedWindow*> ptrs;
          for (const CachedWindow& c : cached[t][i]) ptrs.push_back(&c);
          if (batch_relative_error(decoder.decode_cached(ptrs), expected_cached[t][i]) > 1e-6) ++mismatches;
        }
    } catch (const std::exception& e) {
      MESSAGE("thread ", t, " failed: ", e.what());
      ++failures;
    }
  };
  std::thread a(work, 0), b(work, 1);
  go = true;
  a.join();
  b.join();
  CHECK(failures == 0);
  CHECK(mismatches == 0);
  // At most two instances of any bucket (the pool grows only while all are busy).
  CHECK(decoder.graph_captures() >= sequential_captures);
  CHECK(decoder.graph_captures() <= 2 * sequential_captures);
}
