// Fixed-shape Cortex inference (the CUDA-graph path) against the eager forward on the CPU:
// batches padded to larger buckets, windows without events, capacity slots holding NaN past
// the last event, reused buffers with stale contents, both event sources (tokens and the
// stream cache's K/V rows), and the packing errors.
#include <cmath>

#include "nn/cortex/static_forward.h"
#include "nn/cortex/streaming.h"
#include "tests/nn/cortex_fixtures.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::nn;
using namespace cortex::test;

namespace {

struct Windows {
  CortexInput input;
  BehaviourQueries queries;      // one per window, as the server asks
  std::vector<SpikeEvents> events;
  std::vector<double> query_ms;
};

Windows make_windows(const CortexConfig& c, uint64_t seed, const std::vector<int64_t>& sizes) {
  Windows w;
  w.input = random_input(c, seed, sizes);
  for (int64_t b = 0; b < w.input.samples(); ++b) {
    const double start = w.input.window_start_ms[b];
    w.events.push_back(w.input.events.slice(w.input.segments.begin(b), w.input.segments.begin(b) + sizes[b]));
    w.query_ms.push_back(start + c.window_ms - 0.5 * c.bin_ms);
    w.queries.add_sample({w.query_ms.back()});
  }
  return w;
}

std::vector<TokenWindow> token_windows(const Windows& w) {
  std::vector<TokenWindow> out;
  for (size_t b = 0; b < w.events.size(); ++b) out.push_back({&w.events[b], w.input.window_start_ms[b], w.query_ms[b]});
  return out;
}

// The stream cache's row of each event: its rotated key then value, [n, 2 * dim] f32.
Tensor cached_rows(const CortexStreamer& streamer, const SpikeEvents& events, int64_t dim) {
  const EventKV kv = streamer.event_kv(events);
  const int64_t n = events.size();
  Tensor rows = empty({n, 2 * dim});
  if (n == 0) return rows;
  copy_(narrow_data(rows, 1, 0, dim), reshape(kv.key, {n, dim}));
  copy_(narrow_data(rows, 1, dim, dim), reshape(kv.value, {n, dim}));
  return rows;
}

// Rows [0, n) of the static output: the real windows.
Tensor real_rows(const Tensor& out, int64_t n) { return narrow(out, 0, 0, n); }

struct Bucket {
  std::vector<int64_t> sizes;  // events per real window
  int64_t batch, capacity;
};

// Mixed sizes with empty windows, batches padded by 0 to 5 windows, capacities above the need.
const std::vector<Bucket> kBuckets{
    {{7}, 1, 7},
    {{0}, 1, 16},
    {{5, 0, 12}, 4, 32},
    {{3, 9, 1, 0, 20}, 8, 64},
    {{0, 0}, 2, 8},
    {{30, 2, 0, 4, 11, 6, 1, 9}, 8, 63},
};

}  // namespace

TEST_CASE("static Cortex forward from tokens equals the eager forward on the same windows (f32)") {
  const CortexConfig c = tiny_cortex_config();
  Generator gen(21);
  Cortex model(c, &gen);
  model.eval();
  NoGradGuard no_grad;
  const StaticCortexForward fixed(model);
  uint64_t seed = 100;
  for (const Bucket& bucket : kBuckets) {
    INFO("bucket B=", bucket.batch, " N=", bucket.capacity, " windows ", bucket.sizes.size());
    const StaticBatch batch = fixed.allocate({bucket.batch, bucket.capacity, EventSource::tokens}, Device::cpu());
    // Two batches through the same buffers: the second sees the first's leftovers past its end.
    for (int round = 0; round < 2; ++round) {
      std::vector<int64_t> sizes = bucket.sizes;
      if (round == 1) std::reverse(sizes.begin(), sizes.end());
      const Windows w = make_windows(c, seed++, sizes);
      // Event times past the packed events are NaN: a padded slot that reached a latent would poison it.
      fill_(batch.event_times(), NAN);
      const int64_t events = fixed.pack_tokens(batch, token_windows(w));
      CHECK(events == w.input.events.size());
      CHECK(batch.key_offsets().to_vector<int64_t>().back() == events);
      const Tensor out = fixed.forward(batch);
      CHECK(out.shape() == Shape{bucket.batch, c.outputs});
      const Tensor eager = model.forward(w.input, w.queries);
      expect_close(real_rows(out, w.input.samples()), eager, 1e-5, 1e-6, "static vs eager");
      for (double v : values(out)) CHECK(std::isfinite(v));
    }
  }
}

TEST_CASE("static Cortex forward from cached K/V rows equals the streamer and the eager forward (f32)") {
  const CortexConfig c = tiny_cortex_config();
  Generator gen(22);
  Cortex model(c, &gen);
  model.eval();
  NoGradGuard no_grad;
  const StaticCortexForward fixed(model);
  const CortexStreamer streamer(model);
  uint64_t seed = 200;
  for (const Bucket& bucket : kBuckets) {
    INFO("bucket B=", bucket.batch, " N=", bucket.capacity, " windows ", bucket.sizes.size());
    const Windows w = make_windows(c, seed++, bucket.sizes);
    const StaticBatch batch = fixed.allocate({bucket.batch, bucket.capacity, EventSource::cached_kv}, Device::cpu());
    fill_(batch.kv_rows, NAN);  // rows past the packed ones must never be read
    std::vector<CachedWindowShape> shapes;
    std::vector<Tensor> rows;
    std::vector<EventKV> kvs;
    for (size_t b = 0; b < w.events.size(); ++b) {
      rows.push_back(cached_rows(streamer, w.events[b], c.dim));
      kvs.push_back(streamer.event_kv(w.events[b]));
      shapes.push_back({w.events[b].size(), w.input.window_start_ms[b], w.query_ms[b]});
    }
    CHECK(fixed.pack_cached(batch, shapes) == w.input.events.size());
    fixed.place_cached_rows(batch, rows);
    const Tensor out = real_rows(fixed.forward(batch), w.input.samples());
    expect_close(out, streamer.decode(kvs, w.input.window_start_ms, w.queries), 1e-5, 1e-6, "static vs streamer");
    expect_close(out, model.forward(w.input, w.queries), 1e-5, 1e-6, "static vs eager");
  }
}

TEST_CASE("static Cortex forward in bf16 stays within bf16 rounding of the eager forward") {
  const CortexConfig c = tiny_cortex_config();
  Generator gen(23);
  Cortex model(c, &gen);
  model.to(DType::bf16);
  model.eval();
  NoGradGuard no_grad;
  const StaticCortexForward fixed(model);
  const Windows w = make_windows(c, 300, {9, 0, 17});
  const StaticBatch batch = fixed.allocate({4, 40, EventSource::tokens}, Device::cpu());
  fixed.pack_tokens(batch, token_windows(w));
  const Tensor out = fixed.forward(batch);
  CHECK(out.dtype() == DType::bf16);
  expect_close(real_rows(out, 3), model.forward(w.input, w.queries), 2e-2, 2e-2, "bf16");
}

TEST_CASE("static Cortex forward: packing errors name the window and the bucket") {
  const CortexConfig c = tiny_cortex_config();
  Generator gen(24);
  Cortex model(c, &gen);
  model.eval();
  NoGradGuard no_grad;
  const StaticCortexForward fixed(model);
  const Windows w = make_windows(c, 400, {5, 6});
  const StaticBatch small = fixed.allocate({1, 20, EventSource::tokens}, Device::cpu());
  const StaticBatch narrow_cap = fixed.allocate({2, 10, EventSource::tokens}, Device::cpu());
  const StaticBatch cached = fixed.allocate({2, 20, EventSource::cached_kv}, Device::cpu());
  auto throws = [](const std::function<void()>& f, const char* text) {
    CHECK_THROWS_WITH_AS(f(), doctest::Contains(text), cortex::Error);
  };
  throws([&] { fixed.pack_tokens(small, token_windows(w)); }, "pack_tokens: 2 windows do not fit a bucket of 1");
  throws([&] { fixed.pack_tokens(narrow_cap, token_windows(w)); },
         "pack_tokens: the windows' 11 events do not fit a bucket of 10");
  throws([&] { fixed.pack_tokens(cached, token_windows(w)); }, "the batch holds cached K/V rows, not tokens");
  throws([&] { fixed.pack_cached(narrow_cap, {{3, 0.0, 1.0}}); }, "the batch holds tokens, not cached K/V rows");
  throws([&] { fixed.pack_cached(cached, {{-1, 0.0, 1.0}}); }, "window 0 has -1 rows");
  throws([&] { fixed.place_cached_rows(cached, {zeros({3, 2 * c.dim}), zeros({2, c.dim})}); },
         "window 1 has rows f32[2, 16] cpu, expected f32 [n, 32]");
  throws([&] { fixed.place_cached_rows(cached, {zeros({15, 2 * c.dim}), zeros({6, 2 * c.dim})}); },
         "the windows' rows exceed the bucket's 20");
  const StaticBatch batch = fixed.allocate({2, 20, EventSource::tokens}, Device::cpu());
  std::vector<TokenWindow> shifted = token_windows(w);
  shifted[1].start_ms += 50.0;  // the window no longer holds its first events
  throws([&] { fixed.pack_tokens(batch, shifted); }, "of window 1 at");
  SpikeEvents bad = w.events[0];
  bad.unit[2] = static_cast<int32_t>(c.unit_vocab);
  throws([&] { fixed.pack_tokens(batch, {{&bad, w.input.window_start_ms[0], w.query_ms[0]}}); },
         "event 2 has unit id 20, outside the vocabulary [0, 20)");
  throws([&] { fixed.pack_tokens(batch, {{&w.events[0], w.input.window_start_ms[0], NAN}}); },
         "window 0 has a non-finite start or query time");
  throws([&] { fixed.allocate({0, 4, EventSource::tokens}, Device::cpu()); }, "a bucket needs >= 1 window");
  model.train();
  throws([&] { fixed.forward(batch); }, "the model is in training mode");
  CortexConfig binned = c;
  binned.time_bin_embedding = true;
  Cortex binned_model(binned, &gen);
  throws([&] { StaticCortexForward{binned_model}; }, "uses the time-bin embedding");
}
