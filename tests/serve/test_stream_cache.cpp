// The paged streaming cache: pages follow the sliding window, idle streams are evicted
// least-recently-used, and a streamed decode equals a decode of the same window from scratch.
#include <random>

#include "serve/cortex_decoder.h"
#include "serve/reference_decoder.h"
#include "serve/stream_cache.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::serve;

namespace {

// A stream of Poisson-ish events: `per_stride` events spread over each stride.
struct Recording {
  std::vector<int32_t> units;
  std::vector<double> times;
  std::vector<int32_t> counts;
};

Recording make_recording(uint64_t seed, int64_t num_units, double duration_ms, double rate_per_ms) {
  std::mt19937_64 rng(seed);
  std::exponential_distribution<double> gap(rate_per_ms);
  std::uniform_int_distribution<int32_t> unit(0, static_cast<int32_t>(num_units - 1));
  std::uniform_int_distribution<int32_t> count(1, 3);
  Recording r;
  for (double t = 1000.0 + gap(rng); t < 1000.0 + duration_ms; t += gap(rng)) {
    r.units.push_back(unit(rng));
    r.times.push_back(t);
    r.counts.push_back(count(rng));
  }
  return r;
}

// Events of the recording in [lo, hi).
Window slice(const Recording& r, double lo, double hi) {
  Window w;
  w.end_ms = hi;
  for (size_t i = 0; i < r.times.size(); ++i) {
    if (r.times[i] >= lo && r.times[i] < hi) {
      w.units.push_back(r.units[i]);
      w.times_ms.push_back(r.times[i]);
      w.counts.push_back(r.counts[i]);
    }
  }
  return w;
}

double max_relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  REQUIRE(a.size() == b.size());
  double worst = 0, scale = 1e-6;
  for (float v : b) scale = std::max(scale, static_cast<double>(std::abs(v)));
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]) / scale);
  return worst;
}

// Streams the recording stride by stride through the cache and checks each stride's decode
// against a from-scratch decode of the window ending there.
void check_streamed_equals_recomputed(Decoder& decoder, const Recording& rec, double stride_ms, int strides,
                                      int64_t pages, int64_t page_size, double tolerance) {
  StreamCache cache(decoder, pages, page_size, 8);
  RequestError err;
  const uint64_t id = cache.open(err);
  REQUIRE_FALSE(err);
  const double window = decoder.info().window_ms;
  uint64_t hits = 0;
  for (int k = 1; k <= strides; ++k) {
    const double end = 1000.0 + k * stride_ms;
    const Window stride = slice(rec, end - stride_ms, end);
    StrideInput in{id, &stride};
    auto outcomes = cache.advance({in});
    REQUIRE_FALSE(outcomes[0].error);
    const Window full = slice(rec, end - window, end);
    CHECK(outcomes[0].window.times_ms == full.times_ms);
    CHECK(outcomes[0].misses == stride.size());
    hits += outcomes[0].hits;
    const auto streamed = decoder.decode_cached({&outcomes[0].window});
    const auto scratch = decoder.decode({&full});
    INFO("stride ", k, " with ", full.size(), " events");
    CHECK(max_relative_error(streamed[0], scratch[0]) <= tolerance);
  }
  CHECK(hits > 0);
  // The window never holds more pages than its events need (plus one partly used page).
  const auto st = cache.stats();
  const Window last = slice(rec, 1000.0 + strides * stride_ms - window, 1000.0 + strides * stride_ms);
  CHECK(st.pages_in_use <= static_cast<int64_t>(last.size()) / page_size + 2);
  CHECK(st.hits == hits);
}

nn::CortexConfig tiny_cortex() {
  nn::CortexConfig c;
  c.name = "cortex-test";
  c.dim = 32;
  c.depth = 1;
  c.heads = 2;
  c.latents = 8;
  c.unit_vocab = 40;
  c.max_count = 4;
  c.window_ms = 600.0;
  c.bin_ms = 10.0;
  return c;
}

}  // namespace

TEST_CASE("ReferenceDecoder is the linear readout of binned counts (float64 reference)") {
  ReferenceConfig rc;
  rc.num_units = 5;
  rc.output_dim = 3;
  rc.window_ms = 600;
  rc.bin_ms = 100;
  ReferenceDecoder dec(rc);
  Window w;
  w.units = {0, 4, 4, 2};
  w.times_ms = {1000.0, 1099.9, 1100.0, 1599.0};
  w.counts = {2, 1, 3, 1};
  w.end_ms = 1600.0;
  std::vector<double> features(5 * 6, 0.0);
  features[0 * 6 + 0] += 2;
  features[4 * 6 + 0] += 1;
  features[4 * 6 + 1] += 3;
  features[2 * 6 + 5] += 1;
  // Recover the weights from unit impulses at each bin, then compare with W x + b in double.
  const auto base = dec.decode({&w})[0];
  Window none;
  none.end_ms = 1600.0;
  const auto bias = dec.decode({&none})[0];
  std::vector<double> expected(bias.begin(), bias.end());
  for (int f = 0; f < 30; ++f) {
    if (features[f] == 0) continue;
    Window one;
    one.units = {f / 6};
    one.times_ms = {1000.0 + (f % 6) * 100.0 + 50.0};
    one.counts = {1};
    one.end_ms = 1600.0;
    const auto unit = dec.decode({&one})[0];
    for (int o = 0; o < 3; ++o) expected[o] += features[f] * (static_cast<double>(unit[o]) - bias[o]);
  }
  for (int o = 0; o < 3; ++o) CHECK(base[o] == doctest::Approx(expected[o]).epsilon(1e-5));
  CHECK(dec.info().parameters == 3 * 30 + 3);
}

TEST_CASE("PagePool hands out each page once and refuses a double release") {
  PagePool pool(3, 4, 2, Device::cpu());
  auto a = pool.allocate(), b = pool.allocate(), c = pool.allocate();
  REQUIRE((a && b && c));
  CHECK(*a != *b);
  CHECK_FALSE(pool.allocate());
  CHECK(pool.in_use() == 3);
  pool.release(*b);
  CHECK(pool.in_use() == 2);
  CHECK_THROWS_AS(pool.release(*b), Error);
  CHECK_THROWS_AS(pool.rows(*a, 3, 2), Error);
  fill_(pool.rows(*a, 1, 2), 7.0);
  CHECK(pool.rows(*a, 1, 2).to_vector<float>() == std::vector<float>(4, 7.0f));
}

TEST_CASE("streamed decode equals recomputed: reference decoder, pages smaller than a stride") {
  ReferenceConfig rc;
  rc.num_units = 30;
  ReferenceDecoder dec(rc);
  const Recording rec = make_recording(11, 30, 3000, 0.4);
  check_streamed_equals_recomputed(dec, rec, 50.0, 50, 256, 8, 1e-6);
}

TEST_CASE("streamed decode equals recomputed: a small Cortex model, relative error <= 1e-3 in f32") {
  Generator gen(5);
  auto model = std::make_unique<nn::Cortex>(tiny_cortex(), &gen);
  CortexServingOptions opt;
  opt.version = "test";
  CortexDecoder dec(std::move(model), opt);
  CHECK(dec.row_width() == 64);
  const Recording rec = make_recording(12, 40, 1500, 0.3);
  check_streamed_equals_recomputed(dec, rec, 50.0, 24, 128, 16, 1e-3);
}

CORTEX_GPU_TEST("streamed decode equals recomputed on the GPU: pages and model on cuda:0") {
  Generator gen(5);
  auto model = std::make_unique<nn::Cortex>(tiny_cortex(), &gen, DType::f32, test::gpu());
  CortexServingOptions opt;
  opt.version = "test";
  CortexDecoder dec(std::move(model), opt);
  CHECK(dec.info().device == test::gpu());
  const Recording rec = make_recording(13, 40, 1500, 0.3);
  check_streamed_equals_recomputed(dec, rec, 50.0, 24, 128, 16, 1e-3);
}

namespace {

// The same randomly initialised tiny Cortex as f32 and converted to `dtype` (as cortex-serve
// --dtype does): decodes of the same windows agree within the dtype's rounding, and the
// converted model's streamed decodes still equal its own decodes from scratch.
void check_converted_decoder(DType dtype, Device device) {
  CortexServingOptions opt;
  opt.version = "test";
  Generator gen_a(5), gen_b(5);
  CortexDecoder reference(std::make_unique<nn::Cortex>(tiny_cortex(), &gen_a, DType::f32, device), opt);
  auto model = std::make_unique<nn::Cortex>(tiny_cortex(), &gen_b, DType::f32, device);
  model->to(dtype);
  CortexDecoder converted(std::move(model), opt);
  CHECK(converted.info().dtype == dtype_name(dtype));
  const Recording rec = make_recording(14, 40, 1500, 0.3);
  std::vector<Window> windows;
  const double length = converted.info().window_ms;
  for (double end : {1600.0, 1900.0, 2400.0}) {
    windows.push_back(slice(rec, end - length, end));
    REQUIRE(windows.back().size() > 10);
  }
  std::vector<const Window*> ptrs;
  for (const Window& w : windows) ptrs.push_back(&w);
  const auto exact = reference.decode(ptrs), low = converted.decode(ptrs);
  REQUIRE(exact.size() == low.size());
  double scale = 0, worst = 0;
  for (size_t b = 0; b < exact.size(); ++b)
    for (size_t c = 0; c < exact[b].size(); ++c) {
      scale = std::max(scale, std::abs(static_cast<double>(exact[b][c])));
      worst = std::max(worst, std::abs(static_cast<double>(exact[b][c]) - low[b][c]));
    }
  REQUIRE(scale > 0);
  // bf16 keeps 8 bits of mantissa (relative rounding 2^-9 per op); a few layers compound it.
  CHECK_MESSAGE(worst <= 0.05 * scale, dtype_name(dtype), ": decodes differ from f32 by ", worst, " (scale ", scale,
                ")");
  check_streamed_equals_recomputed(converted, rec, 50.0, 24, 128, 16, 1e-2);
}

}  // namespace

TEST_CASE("a bf16-converted Cortex decodes like the f32 one and streams like itself (cortex-serve --dtype bf16)") {
  check_converted_decoder(DType::bf16, Device::cpu());
}

CORTEX_GPU_TEST("a bf16-converted Cortex on the GPU decodes like the f32 one and streams like itself") {
  check_converted_decoder(DType::bf16, test::gpu());
}

TEST_CASE("pages of events that left the window are freed; quiet strides empty the stream") {
  ReferenceConfig rc;
  rc.num_units = 10;
  ReferenceDecoder dec(rc);
  StreamCache cache(dec, 64, 4, 4);
  RequestError err;
  const uint64_t id = cache.open(err);
  Window busy;
  busy.end_ms = 1050.0;
  for (int i = 0; i < 16; ++i) {
    busy.units.push_back(i % 10);
    busy.times_ms.push_back(1000.0 + i * 3.0);
    busy.counts.push_back(1);
  }
  auto out = cache.advance({{id, &busy}});
  REQUIRE_FALSE(out[0].error);
  CHECK(cache.stats().pages_in_use == 4);
  // Quiet strides until the busy one has left the 600 ms window.
  double end = 1050.0;
  for (int k = 0; k < 12; ++k) {
    end += 50.0;
    Window quiet;
    quiet.end_ms = end;
    out = cache.advance({{id, &quiet}});
    REQUIRE_FALSE(out[0].error);
  }
  CHECK(out[0].window.times_ms.empty());
  CHECK(cache.stats().pages_in_use == 0);
  cache.close(id);
  CHECK(cache.stats().streams == 0);
}

TEST_CASE("under memory pressure idle streams are evicted least-recently-used and re-encoded later") {
  ReferenceConfig rc;
  rc.num_units = 10;
  ReferenceDecoder dec(rc);
  StreamCache cache(dec, 4, 4, 8);  // 16 rows in all
  RequestError err;
  const uint64_t a = cache.open(err), b = cache.open(err), c = cache.open(err);
  auto stride = [](double end, int n) {
    Window w;
    w.end_ms = end;
    for (int i = 0; i < n; ++i) {
      w.units.push_back(i % 10);
      w.times_ms.push_back(end - 40.0 + i);
      w.counts.push_back(1);
    }
    return w;
  };
  const Window wa = stride(1050, 8), wb = stride(1050, 8);
  REQUIRE_FALSE(cache.advance({{a, &wa}})[0].error);  // a: 2 pages
  REQUIRE_FALSE(cache.advance({{b, &wb}})[0].error);  // b: 2 pages, pool full
  CHECK(cache.stats().pages_in_use == 4);
  // c needs a page: a, the least recently used, loses its pages.
  const Window wc = stride(1050, 3);
  auto oc = cache.advance({{c, &wc}});
  REQUIRE_FALSE(oc[0].error);
  auto st = cache.stats();
  CHECK(st.evictions == 1);
  CHECK(st.resident_streams == 2);
  // b continues from its pages (hits); a is re-encoded from its raw events (misses) and
  // still decodes exactly its window.
  const Window wb2 = stride(1100, 2);
  auto ob = cache.advance({{b, &wb2}});
  REQUIRE_FALSE(ob[0].error);
  CHECK(ob[0].hits == 8);
  const Window wa2 = stride(1100, 1);
  auto oa = cache.advance({{a, &wa2}});
  REQUIRE_FALSE(oa[0].error);
  CHECK(oa[0].hits == 0);
  CHECK(oa[0].misses == 9);
  Window full = wa;
  full.units.insert(full.units.end(), wa2.units.begin(), wa2.units.end());
  full.times_ms.insert(full.times_ms.end(), wa2.times_ms.begin(), wa2.times_ms.end());
  full.counts.insert(full.counts.end(), wa2.counts.begin(), wa2.counts.end());
  full.end_ms = 1100;
  CHECK(dec.decode_cached({&oa[0].window})[0] == dec.decode({&full})[0]);
  // A stream alone bigger than the pool gets a clear error, and the cache stays usable.
  const Window huge = stride(1150, 40);
  auto oh = cache.advance({{c, &huge}});
  CHECK(oh[0].error.reason == Rejection::stream_cache_full);
  const Window small = stride(1150, 1);
  CHECK_FALSE(cache.advance({{b, &small}})[0].error);
}

TEST_CASE("several streams advance in one call with one encoder call; limits on streams") {
  ReferenceConfig rc;
  rc.num_units = 10;
  ReferenceDecoder dec(rc);
  StreamCache cache(dec, 32, 4, 2);
  RequestError err;
  const uint64_t a = cache.open(err), b = cache.open(err);
  REQUIRE_FALSE(err);
  cache.open(err);
  CHECK(err.reason == Rejection::stream_cache_full);
  Window wa, wb;
  wa.end_ms = wb.end_ms = 1050;
  wa.units = {1, 2};
  wa.times_ms = {1000, 1010};
  wa.counts = {1, 1};
  wb.units = {3};
  wb.times_ms = {1020};
  wb.counts = {2};
  auto out = cache.advance({{a, &wa}, {b, &wb}});
  REQUIRE_FALSE(out[0].error);
  REQUIRE_FALSE(out[1].error);
  CHECK(out[0].window.rows.to_vector<float>() == std::vector<float>{1, 1, 2, 1});
  CHECK(out[1].window.rows.to_vector<float>() == std::vector<float>{3, 2});
  // The same stream twice in one call is refused for the second.
  Window more = wa;
  more.end_ms = 1100;
  more.times_ms = {1060, 1070};
  auto dup = cache.advance({{a, &more}, {a, &more}});
  CHECK_FALSE(dup[0].error);
  CHECK(dup[1].error.reason == Rejection::internal);
}
