// The streaming split: event K/V are window-independent, and decoding from a cache of K/V
// computed chunk by chunk equals a forward from scratch.
#include <cstring>

#include "nn/cortex/streaming.h"
#include "tests/nn/cortex_fixtures.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::nn;
using cortex::test::tiny_cortex_config;

namespace {

bool bit_identical(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  const Tensor ca = contiguous_copy(a), cb = contiguous_copy(b);
  return std::memcmp(ca.data_ptr(), cb.data_ptr(), ca.nbytes()) == 0;
}

// Events of [start, end), in order.
SpikeEvents between(const SpikeEvents& all, double start, double end) {
  SpikeEvents out;
  for (int64_t i = 0; i < all.size(); ++i) {
    const size_t e = static_cast<size_t>(i);
    if (all.time_ms[e] >= start && all.time_ms[e] < end) out.push_back(all.unit[e], all.count[e], all.time_ms[e]);
  }
  return out;
}

// A recording of `duration` ms starting at t0 with ~rate_per_ms events per ms.
SpikeEvents recording(const CortexConfig& c, double t0, double duration, uint64_t seed) {
  std::mt19937_64 rng(seed);
  return test::random_events(rng, t0, duration, static_cast<int64_t>(duration * 0.4),
                             static_cast<int32_t>(c.unit_vocab), 6);
}

}  // namespace

TEST_CASE("encoder K/V of an event are bit-identical whichever window or chunk computes them (f32)") {
  const CortexConfig c = tiny_cortex_config();
  Generator gen(12);
  Cortex model(c, &gen);
  model.eval();
  NoGradGuard no_grad;
  const SpikeEvents all = recording(c, 86'400'000.0, 400.0, 3);  // a day into the recording
  const EventKVTables tables = model.kv_tables();
  // Two windows that overlap by 60 ms: the shared events must get the same bits.
  const double a0 = 86'400'000.0 + 20.0, b0 = a0 + 40.0;
  const SpikeEvents in_a = between(all, a0, a0 + c.window_ms), in_b = between(all, b0, b0 + c.window_ms);
  const EventKV kv_a = model.event_kv(tables, in_a), kv_b = model.event_kv(tables, in_b);
  int64_t shared = 0;
  for (int64_t i = 0; i < in_a.size(); ++i) {
    for (int64_t j = 0; j < in_b.size(); ++j) {
      if (in_a.time_ms[static_cast<size_t>(i)] != in_b.time_ms[static_cast<size_t>(j)]) continue;
      ++shared;
      CHECK(bit_identical(narrow(kv_a.key, 0, i, 1), narrow(kv_b.key, 0, j, 1)));
      CHECK(bit_identical(narrow(kv_a.value, 0, i, 1), narrow(kv_b.value, 0, j, 1)));
    }
  }
  CHECK(shared > 10);
  // Both windows' events in one call.
  CortexInput scratch;
  scratch.add_sample(in_a, a0);
  scratch.add_sample(in_b, b0);
  const EventKV kv_both = model.event_kv(model.kv_tables(), scratch.events);
  CHECK(bit_identical(narrow(kv_both.key, 0, 0, in_a.size()), kv_a.key));
  CHECK(bit_identical(narrow(kv_both.value, 0, in_a.size(), in_b.size()), kv_b.value));
  // Event by event, one at a time.
  for (int64_t i = 0; i < in_a.size(); i += 7) {
    const EventKV one = model.event_kv(tables, in_a.slice(i, i + 1));
    CHECK(bit_identical(one.key, narrow(kv_a.key, 0, i, 1)));
  }
}

TEST_CASE("streamed decoding from chunked K/V equals the forward from scratch") {
  CortexConfig c = tiny_cortex_config();
  c.dropout = 0.2;  // eval mode must switch it off in both paths
  Generator gen(13);
  Cortex model(c, &gen);
  model.eval();
  CortexStreamer streamer(model);
  EventKVCache cache;
  const double t0 = 5'000'000.0, chunk = 10.0;
  const SpikeEvents all = recording(c, t0, 320.0, 4);
  int checked = 0;
  for (double now = t0 + chunk; now <= t0 + 320.0; now += chunk) {
    // Events of the last chunk arrive; their K/V are computed once and cached.
    const SpikeEvents fresh = between(all, now - chunk, now);
    cache.append(fresh, streamer.event_kv(fresh));
    const double start = now - c.window_ms;
    cache.evict_before(start);
    if (start < t0) continue;
    const std::vector<double> query_times{now - 0.5, now - 3.0};
    const Tensor streamed = streamer.decode(cache.window(start, now), start, query_times);

    NoGradGuard no_grad;
    CortexInput scratch;
    scratch.add_sample(between(all, start, now), start);
    BehaviourQueries q;
    q.add_sample(query_times);
    const Tensor recomputed = model.forward(scratch, q);
    INFO("window start ", start);
    CHECK(cache.window_events(start, now).time_ms == scratch.events.time_ms);
    CHECK(test::closeness(streamed, recomputed, 1e-3, 1e-6) <= 1.0);
    CHECK(bit_identical(streamed, recomputed));
    ++checked;
  }
  CHECK(checked >= 20);
}

TEST_CASE("several windows decode together as they do one by one") {
  const CortexConfig c = tiny_cortex_config();
  Cortex model(c);
  model.eval();
  CortexStreamer streamer(model);
  const SpikeEvents all = recording(c, 1000.0, 300.0, 5);
  std::vector<EventKV> windows;
  std::vector<double> starts{1000.0, 1150.0, 1200.0};
  BehaviourQueries q;
  for (double s : starts) {
    windows.push_back(streamer.event_kv(between(all, s, s + c.window_ms)));
    q.add_sample({s + c.window_ms - 1.0});
  }
  const Tensor together = streamer.decode(windows, starts, q);
  CHECK(together.shape() == Shape{3, c.outputs});
  for (size_t i = 0; i < starts.size(); ++i) {
    const Tensor alone = streamer.decode(windows[i], starts[i], {starts[i] + c.window_ms - 1.0});
    test::expect_close(alone, narrow(together, 0, static_cast<int64_t>(i), 1), 1e-5, 1e-6);
  }
}

TEST_CASE("the cache keeps time order, evicts old events and selects windows exactly") {
  const CortexConfig c = tiny_cortex_config();
  Cortex model(c);
  model.eval();
  CortexStreamer streamer(model);
  EventKVCache cache;
  const SpikeEvents all = recording(c, 0.0, 200.0, 6);
  const SpikeEvents first = between(all, 0.0, 100.0), second = between(all, 100.0, 200.0);
  cache.append(first, streamer.event_kv(first));
  cache.append(second, streamer.event_kv(second));
  CHECK(cache.size() == all.size());
  CHECK(cache.window_events(35.0, 160.0).time_ms == between(all, 35.0, 160.0).time_ms);
  CHECK(cache.window(35.0, 160.0).size() == between(all, 35.0, 160.0).size());
  CHECK(cache.window(500.0, 600.0).size() == 0);
  cache.evict_before(120.0);
  CHECK(cache.size() == between(all, 120.0, 200.0).size());
  CHECK_THROWS_WITH_AS(cache.append(first, streamer.event_kv(first)), doctest::Contains("arrive after cached events"),
                       Error);
  // An empty window still decodes (latents see no events).
  const Tensor empty_window = streamer.decode(cache.window(500.0, 600.0), 500.0, {599.0});
  CHECK(empty_window.shape() == Shape{1, c.outputs});
}

TEST_CASE("the streamer refuses configs and modes it cannot serve exactly") {
  CortexConfig c = tiny_cortex_config();
  c.time_bin_embedding = true;
  Cortex with_bins(c);
  CHECK_THROWS_WITH_AS(CortexStreamer{with_bins}, doctest::Contains("time_bin_embedding: false"), Error);
  Cortex training(tiny_cortex_config());
  CortexStreamer streamer(training);
  CHECK_THROWS_WITH_AS(streamer.decode(EventKV{}, 0.0, {1.0}), doctest::Contains("training mode"), Error);
}

CORTEX_GPU_TEST("on the GPU, event K/V are window-independent and streamed decoding equals recomputing") {
  const CortexConfig c = tiny_cortex_config();
  Cortex model(c);
  model.to(test::gpu());
  model.eval();
  CortexStreamer streamer(model);
  NoGradGuard no_grad;
  const SpikeEvents all = recording(c, 3'600'000.0, 200.0, 7);
  const SpikeEvents first = between(all, 3'600'000.0, 3'600'100.0), second = between(all, 3'600'100.0, 3'600'200.0);
  EventKVCache cache;
  cache.append(first, streamer.event_kv(first));
  cache.append(second, streamer.event_kv(second));
  const double start = 3'600'070.0;
  const EventKV cached = cache.window(start, start + c.window_ms);
  const EventKV together = streamer.event_kv(between(all, start, start + c.window_ms));
  CHECK(bit_identical(data_to_device(cached.key, Device::cpu()), data_to_device(together.key, Device::cpu())));
  CHECK(bit_identical(data_to_device(cached.value, Device::cpu()), data_to_device(together.value, Device::cpu())));
  CortexInput scratch;
  scratch.add_sample(between(all, start, start + c.window_ms), start);
  BehaviourQueries q;
  q.add_sample({start + c.window_ms - 0.5});
  const Tensor streamed = streamer.decode(cached, start, {start + c.window_ms - 0.5});
  const Tensor recomputed = model.forward(scratch, q);
  CHECK(test::closeness(data_to_device(streamed, Device::cpu()), data_to_device(recomputed, Device::cpu()), 1e-3,
                        1e-6) <= 1.0);
}
