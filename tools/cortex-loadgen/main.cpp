// cortex-loadgen: offers load to a running cortex-serve and reports throughput, latency
// percentiles, errors by status and goodput within a latency SLO. See docs/serving.md.
#include <cstdio>
#include <cstring>
#include <thread>

#include "engine/error.h"
#include "runners.h"
#include "serve/client.h"

namespace {

const char* kUsage =
    "usage: cortex-loadgen [--host 127.0.0.1] --port N [--mode open|closed|stream] [options]\n"
    "  --rate R           open loop: Poisson arrivals per second (default 50)\n"
    "  --connections M    open loop: client connections (default 64)\n"
    "  --threads T        open loop: event-loop threads sharing them (default min(4, cores / 4))\n"
    "  --concurrency C    closed loop: requests in flight (default 4)\n"
    "  --streams S        stream mode: WebSocket streams, one stride per stride_ms each (default 4)\n"
    "  --duration S --warmup S   measured seconds and discarded warm-up seconds (10, 1)\n"
    "  --events N         mean events per window (default 256)\n"
    "  --encoding json|binary  request encoding (default json)\n"
    "  --deadline-ms D    per-request deadline (default: the server's)\n"
    "  --slo-ms X         goodput counts answers within X ms (default 50)\n"
    "  --wait-ready S     wait up to S seconds for /ready (default 120)\n"
    "  --seed N --label TEXT --json   (--json prints one JSON summary line last)\n";

}  // namespace

int main(int argc, char** argv) {
  using namespace loadgen;
  RunOptions o;
  double slo_ms = 50.0, wait_ready_s = 120.0;
  bool json_out = false;
  std::string label;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        CORTEX_CHECK(i + 1 < argc, "cortex-loadgen", a, " needs a value");
        return argv[++i];
      };
      if (a == "--help" || a == "-h") {
        std::fputs(kUsage, stdout);
        return 0;
      } else if (a == "--host") o.host = value();
      else if (a == "--port") o.port = static_cast<uint16_t>(std::stoi(value()));
      else if (a == "--mode") o.mode = value();
      else if (a == "--rate") o.rate = std::stod(value());
      else if (a == "--connections") o.connections = std::stoi(value());
      else if (a == "--threads") o.threads = std::stoi(value());
      else if (a == "--concurrency") o.concurrency = std::stoi(value());
      else if (a == "--streams") o.streams = std::stoi(value());
      else if (a == "--duration") o.duration_s = std::stod(value());
      else if (a == "--warmup") o.warmup_s = std::stod(value());
      else if (a == "--events") o.shape.events_per_window = std::stod(value());
      else if (a == "--encoding") o.binary = value() == "binary";
      else if (a == "--deadline-ms") o.deadline_ms = std::stod(value());
      else if (a == "--slo-ms") slo_ms = std::stod(value());
      else if (a == "--wait-ready") wait_ready_s = std::stod(value());
      else if (a == "--seed") o.seed = std::stoull(value());
      else if (a == "--label") label = value();
      else if (a == "--json") json_out = true;
      else CORTEX_FAIL("cortex-loadgen", "unknown option ", a, "\n", kUsage);
    }
    CORTEX_CHECK(o.mode == "open" || o.mode == "closed" || o.mode == "stream", "cortex-loadgen",
                 "--mode must be open, closed or stream, got ", o.mode);
    CORTEX_CHECK(o.rate > 0 && o.duration_s > 0 && o.concurrency > 0 && o.streams > 0 && o.connections > 0 &&
                     o.threads >= 0,
                 "cortex-loadgen", "rates, counts and durations must be positive (--threads 0: the default)");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cortex-loadgen: %s\n", e.what());
    return 2;
  }
  try {
    // The model's shape decides the traffic: its unit vocabulary and window.
    cortex::serve::HttpClient probe(o.host, o.port, std::chrono::seconds(5));
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(wait_ready_s));
    while (true) {
      int status = 0;
      try {
        status = probe.get("/ready").status;
      } catch (const cortex::Error&) {
        probe.disconnect();
      }
      if (status == 200) break;
      CORTEX_CHECK(Clock::now() < deadline, "cortex-loadgen", "the server at ", o.host, ":", o.port,
                   " was not ready within ", wait_ready_s, " s");
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    const auto model = nlohmann::json::parse(probe.get("/v1/model").body);
    o.shape.units = std::min<int64_t>(model["num_units"].get<int64_t>(), 96);
    o.shape.window_ms = model["window_ms"].get<double>();
    o.shape.stride_ms = model["stride_ms"].get<double>();
    probe.disconnect();

    std::fprintf(stderr, "cortex-loadgen: %s mode against %s (%s) for %.0f s after %.0f s warm-up\n", o.mode.c_str(),
                 model["name"].get<std::string>().c_str(), model["device"].get<std::string>().c_str(), o.duration_s,
                 o.warmup_s);
    const Clock::time_point start = Clock::now();
    Recorder recorder(start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.warmup_s)));
    if (o.mode == "open") run_open_loop(o, recorder, start);
    else if (o.mode == "closed") run_closed_loop(o, recorder, start);
    else run_streams(o, recorder, start);
    const Recorder::Summary s = recorder.summarise(o.duration_s, slo_ms);
    std::fputs(to_text(s, slo_ms).c_str(), stdout);
    if (json_out) {
      nlohmann::json j = to_json(s);
      j["mode"] = o.mode;
      j["label"] = label;
      j["slo_ms"] = slo_ms;
      j["events_per_window"] = o.shape.events_per_window;
      if (o.mode == "open") {
        j["rate"] = o.rate;
        j["connections"] = o.connections;
        j["threads"] = open_loop_threads(o);
      }
      if (o.mode == "closed") j["concurrency"] = o.concurrency;
      if (o.mode == "stream") j["streams"] = o.streams;
      j["model"] = model["name"];
      j["device"] = model["device"];
      std::printf("%s\n", j.dump().c_str());
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cortex-loadgen: %s\n", e.what());
    return 1;
  }
}
