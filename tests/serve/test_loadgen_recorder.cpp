// cortex-loadgen's Recorder: latency counts from when a request was due, warm-up outcomes are
// dropped, errors are counted by status, and the client's send lag (due to sent) is reported
// apart so a late client is not mistaken for a slow server.
#include <doctest/doctest.h>

#include "tools/cortex-loadgen/recorder.h"

using loadgen::Clock;
using loadgen::Recorder;

namespace {
Clock::duration ms(double v) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double, std::milli>(v));
}
}  // namespace

TEST_CASE("loadgen recorder: percentiles from the due time, send lag apart, warm-up dropped, errors by status") {
  const Clock::time_point t0 = Clock::now();
  Recorder r(t0);
  r.record(t0 - ms(5), t0 - ms(5), t0 + ms(500), 200);  // due during the warm-up: not kept
  r.record_sent(t0 - ms(5));
  for (int i = 1; i <= 100; ++i) {
    const Clock::time_point due = t0 + ms(i);
    r.record_sent(due);
    // Latency i ms from the due time, of which the client was late by i / 10 ms.
    r.record(due, due + ms(i / 10.0), due + ms(i), 200);
  }
  r.record_sent(t0 + ms(200));
  r.record(t0 + ms(200), t0 + ms(201), t0 + ms(300), 429);
  r.record(t0 + ms(201), t0 + ms(202), t0 + ms(300), 0);
  r.record(t0 + ms(202), t0 + ms(400), -1);

  const Recorder::Summary s = r.summarise(2.0, 50.0);
  CHECK(s.ok == 100);
  CHECK(s.sent == 101);
  CHECK(s.p50_ms == doctest::Approx(50).epsilon(1e-6));
  CHECK(s.p99_ms == doctest::Approx(99).epsilon(1e-6));
  CHECK(s.max_ms == doctest::Approx(100).epsilon(1e-6));
  CHECK(s.goodput_per_s == doctest::Approx(25.0));  // 50 of them within 50 ms, over 2 s
  CHECK(s.send_lag_p50_ms == doctest::Approx(5.0).epsilon(1e-6));
  CHECK(s.send_lag_p99_ms == doctest::Approx(9.9).epsilon(1e-6));
  CHECK(s.send_lag_max_ms == doctest::Approx(10.0).epsilon(1e-6));
  CHECK(s.errors.at("429") == 1);
  CHECK(s.errors.at("network") == 1);
  CHECK(s.errors.at("not_sent") == 1);
  const nlohmann::json j = loadgen::to_json(s);
  CHECK(j.at("send_lag_p99_ms").get<double>() == doctest::Approx(9.9).epsilon(1e-6));
  CHECK(loadgen::to_text(s, 50.0).find("client send lag ms") != std::string::npos);
}

TEST_CASE("loadgen recorder: the three-argument record has no send lag") {
  const Clock::time_point t0 = Clock::now();
  Recorder r(t0);
  r.record(t0 + ms(1), t0 + ms(4), 200);
  const Recorder::Summary s = r.summarise(1.0, 10.0);
  CHECK(s.p50_ms == doctest::Approx(3).epsilon(1e-6));
  CHECK(s.send_lag_max_ms == 0.0);
}
