// The real server binary: WebSocket streams (streamed equals a from-scratch decode over HTTP,
// error messages keep the stream open), floods beyond the queue on both endpoints, and a
// graceful drain on SIGTERM with requests and a stream in flight.
#include <signal.h>

#include <atomic>
#include <random>
#include <thread>

#include <fstream>

#include "nn/model_config.h"
#include "nn/safetensors.h"
#include "serve/client.h"
#include "serve/cortex_decoder.h"
#include "serve/request_codec.h"
#include "tests/serve/random_events.h"
#include "tests/serve/server_process.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::serve;
using namespace cortex::serve::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// The events of one 50 ms stride ending at end_ms: a few per unit of a small population.
Window stride_events(std::mt19937_64& rng, double end_ms, int64_t units, int n) {
  return random_events(rng, end_ms, 50.0, units, n, 2);
}

void append(Window& all, const Window& part) {
  all.units.insert(all.units.end(), part.units.begin(), part.units.end());
  all.times_ms.insert(all.times_ms.end(), part.times_ms.begin(), part.times_ms.end());
  all.counts.insert(all.counts.end(), part.counts.begin(), part.counts.end());
}

Window last(const Window& all, double end_ms, double length_ms) {
  Window w;
  w.end_ms = end_ms;
  for (size_t i = 0; i < all.size(); ++i) {
    if (all.times_ms[i] >= end_ms - length_ms && all.times_ms[i] < end_ms) {
      w.units.push_back(all.units[i]);
      w.times_ms.push_back(all.times_ms[i]);
      w.counts.push_back(all.counts[i]);
    }
  }
  return w;
}

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 1e-6;
  for (float v : b) scale = std::max(scale, static_cast<double>(std::abs(v)));
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]) / scale);
  return a.size() == b.size() ? worst : 1e9;
}

// Streams `strides` strides and checks each reply against POST /v1/decode of the same window.
void stream_matches_http(const std::vector<std::string>& args, int64_t units, double window_ms, int strides,
                         double tolerance, bool binary) {
  ServerProcess server(args);
  REQUIRE(server.wait_ready());
  StreamClient stream("127.0.0.1", server.port());
  HttpClient http("127.0.0.1", server.port());
  std::mt19937_64 rng(3);
  Window all;
  uint64_t hits = 0;
  for (int k = 1; k <= strides; ++k) {
    const double end = 10000.0 + 50.0 * k;
    const Window s = stride_events(rng, end, units, 6);
    append(all, s);
    if (binary) {
      stream.send_binary(encode_binary_request(s, 50.0));
    } else {
      stream.send_text(encode_json_request(s));
    }
    const json reply = json::parse(stream.receive());
    REQUIRE_MESSAGE(reply.contains("velocity"), reply.dump());
    CHECK(reply["end_ms"].get<double>() == end);
    CHECK(reply["seq"].get<int>() == k);
    hits += reply["cache"]["hits"].get<uint64_t>();
    const Window w = last(all, end, window_ms);
    CHECK(reply["events_in_window"].get<size_t>() == w.size());
    const HttpReply scratch = http.post("/v1/decode", encode_json_request(w));
    REQUIRE(scratch.status == 200);
    const auto a = reply["velocity"].get<std::vector<float>>();
    const auto b = json::parse(scratch.body)["velocity"].get<std::vector<float>>();
    INFO("stride ", k);
    CHECK(relative_error(a, b) <= tolerance);
  }
  CHECK(hits > 0);
  const std::string metrics = http.get("/metrics").body;
  const size_t at = metrics.find("\ncortex_cache_hit_rate ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(metrics.substr(at + 23)) > 0.5);  // most window events come from the cache
  CHECK(metrics.find("cortex_requests_total{endpoint=\"stream\",status=\"200\"} " + std::to_string(strides)) !=
        std::string::npos);
}

}  // namespace

TEST_CASE("stream: strided decodes equal from-scratch decodes (reference decoder, JSON messages)") {
  stream_matches_http({"--init", "reference", "--cache-page-size", "8", "--io-threads", "2"}, 96, 600.0, 20, 1e-6,
                      false);
}

TEST_CASE("stream: strided decodes equal from-scratch decodes (small Cortex, binary messages, rel. err <= 1e-3)") {
  stream_matches_http({"--init", tiny_cortex_config_path(), "--cache-page-size", "16"}, 64, 600.0, 16, 1e-3, true);
}

TEST_CASE("stream: bad messages get error messages and the stream stays open") {
  ServerProcess server({"--init", "reference"});
  REQUIRE(server.wait_ready());
  StreamClient stream("127.0.0.1", server.port());
  auto error_of = [&](const std::string& message) {
    stream.send_text(message);
    return json::parse(stream.receive());
  };
  CHECK(error_of("{nope")["error"] == "malformed");
  CHECK(error_of(R"({"units":[1],"times_ms":[990]})")["error"] == "wrong_type");  // no end_ms
  CHECK(error_of(R"({"end_ms":1000,"units":[200],"times_ms":[990]})")["error"] == "unit_out_of_range");
  CHECK(error_of(R"({"end_ms":1000,"units":[1,2],"times_ms":[995,990]})")["error"] == "out_of_order");
  const json ok = error_of(R"({"end_ms":1000,"units":[1,2],"times_ms":[960,990]})");
  CHECK(ok.contains("velocity"));
  CHECK(error_of(R"({"end_ms":1000,"units":[],"times_ms":[]})")["error"] == "out_of_order");  // end must advance
  CHECK(error_of(R"({"end_ms":1050,"units":[3],"times_ms":[980]})")["error"] == "time_out_of_window");
  const json quiet = error_of(R"({"end_ms":1050,"units":[],"times_ms":[]})");
  CHECK(quiet.contains("velocity"));
  CHECK(quiet["events_in_window"] == 2);
  CHECK(stream.is_open());
}

TEST_CASE("stream: beyond max_streams a new stream gets a message and a try-again-later close") {
  ServerProcess server({"--init", "reference", "--max-streams", "1"});
  REQUIRE(server.wait_ready());
  StreamClient first("127.0.0.1", server.port());
  first.send_text(R"({"end_ms":1000,"units":[1],"times_ms":[990]})");
  REQUIRE(json::parse(first.receive()).contains("velocity"));
  StreamClient second("127.0.0.1", server.port());
  const json refusal = json::parse(second.receive());
  CHECK(refusal["error"] == "stream_cache_full");
  CHECK_THROWS_AS(second.receive(), Error);
  CHECK(second.close_code() == 1013);
  // The first stream is unaffected, and its slot frees when it closes.
  first.send_text(R"({"end_ms":1050,"units":[2],"times_ms":[1020]})");
  CHECK(json::parse(first.receive()).contains("velocity"));
  first.close();
  std::this_thread::sleep_for(200ms);
  StreamClient third("127.0.0.1", server.port());
  third.send_text(R"({"end_ms":1000,"units":[1],"times_ms":[990]})");
  CHECK(json::parse(third.receive()).contains("velocity"));
}

TEST_CASE("floods beyond the queue: HTTP 429 with Retry-After, stream messages, nothing admitted lost") {
  // Cortex-XS on this CPU takes long enough per window for a queue of 2 to overflow.
  ServerProcess server({"--init", "cortex-xs", "--no-warmup", "--no-batching", "--max-batch", "1",
                        "--queue-capacity", "2", "--deadline-ms", "120000"});
  REQUIRE(server.wait_ready(60s));
  const std::string body = R"({"units":[1,2,3],"times_ms":[10,500,900]})";
  std::atomic<int> ok{0}, too_many{0}, other{0};
  std::atomic<bool> retry_after{true};
  std::vector<std::thread> clients;
  for (int i = 0; i < 12; ++i) {
    clients.emplace_back([&] {
      HttpClient c("127.0.0.1", server.port(), 120s);
      const HttpReply r = c.post("/v1/decode", body);
      if (r.status == 200) ++ok;
      else if (r.status == 429) {
        ++too_many;
        if (r.headers.count("retry-after") == 0 || std::stoi(r.headers.at("retry-after")) < 1) retry_after = false;
        if (json::parse(r.body)["error"] != "queue_full") retry_after = false;
      } else {
        ++other;
      }
    });
  }
  // Meanwhile a stream: while the queue is full its stride is refused by a message.
  StreamClient stream("127.0.0.1", server.port(), 120s);
  std::this_thread::sleep_for(200ms);
  stream.send_text(R"({"end_ms":1000,"units":[1],"times_ms":[990]})");
  const json first = json::parse(stream.receive());
  for (auto& t : clients) t.join();
  CHECK(too_many >= 1);
  CHECK(ok + (first.contains("velocity") ? 1 : 0) >= 3);  // one running plus a full queue, at least
  CHECK(ok + too_many == 12);
  CHECK(other == 0);
  CHECK(retry_after);
  if (first.contains("error")) {
    CHECK(first["error"] == "queue_full");
    CHECK(first["retry_after_ms"].get<double>() > 0);
  }
  // The stream is still open and the server serves it once the flood is over.
  stream.send_text(R"({"end_ms":1050,"units":[2],"times_ms":[1020]})");
  CHECK(json::parse(stream.receive()).contains("velocity"));
  HttpClient after("127.0.0.1", server.port(), 120s);
  CHECK(after.post("/v1/decode", body).status == 200);
  const std::string m = after.get("/metrics").body;
  CHECK(m.find("cortex_rejections_total{reason=\"queue_full\"}") != std::string::npos);
}

TEST_CASE("SIGTERM drains: admitted requests finish, streams get a close frame, exit 0") {
  ServerProcess server({"--init", "cortex-xs", "--no-warmup", "--max-batch", "4", "--deadline-ms", "120000"});
  REQUIRE(server.wait_ready(60s));
  StreamClient stream("127.0.0.1", server.port(), 120s);
  stream.send_text(R"({"end_ms":1000,"units":[1],"times_ms":[990]})");
  REQUIRE(json::parse(stream.receive()).contains("velocity"));
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 6; ++i) {
    clients.emplace_back([&] {
      try {
        HttpClient c("127.0.0.1", server.port(), 120s);
        if (c.post("/v1/decode", R"({"units":[1,2,3],"times_ms":[10,500,900]})").status == 200) ++ok;
        else ++failed;
      } catch (const Error&) {
        ++failed;
      }
    });
  }
  // A stride in flight when the signal comes.
  stream.send_text(R"({"end_ms":1050,"units":[2],"times_ms":[1020]})");
  {
    // The signal comes once all seven are admitted (the first stride was admitted earlier).
    HttpClient probe("127.0.0.1", server.port(), 30s);
    auto admitted = [&](const std::string& m, const char* endpoint) {
      const std::string key = std::string("cortex_admitted_total{endpoint=\"") + endpoint + "\"} ";
      const size_t at = m.find(key);
      return at == std::string::npos ? 0.0 : std::stod(m.substr(at + key.size()));
    };
    for (int i = 0; i < 600; ++i) {
      const std::string m = probe.get("/metrics").body;
      if (admitted(m, "decode") >= 6 && admitted(m, "stream") >= 2) break;
      std::this_thread::sleep_for(50ms);
    }
  }
  server.signal(SIGTERM);
  const json stride = json::parse(stream.receive());
  CHECK(stride.contains("velocity"));
  CHECK_THROWS_AS(stream.receive(), Error);  // then the close frame
  CHECK(stream.close_code() == 1001);        // going away
  for (auto& t : clients) t.join();
  CHECK(ok == 6);
  CHECK(failed == 0);
  CHECK(server.wait_exit(60s) == 0);
  const std::string log = server.log();
  CHECK(log.find("\"event\":\"draining\"") != std::string::npos);
  CHECK(log.find("\"reason\":\"SIGTERM\"") != std::string::npos);
  CHECK(log.find("\"event\":\"stopped\"") != std::string::npos);
  CHECK_THROWS_AS(HttpClient("127.0.0.1", server.port(), 1s).get("/health"), Error);  // no longer accepting
}

TEST_CASE("while the model loads: /health 200, /ready 503, decode and streams refused with not_ready") {
  ServerProcess server({"--init", "cortex-xs"});  // the warm-up keeps it loading for a while
  HttpClient client("127.0.0.1", server.port(), 30s);
  CHECK(client.get("/health").status == 200);
  const HttpReply ready = client.get("/ready");
  const HttpReply decode = client.post("/v1/decode", R"({"units":[1],"times_ms":[10]})");
  if (ready.status == 503) {
    CHECK(json::parse(ready.body)["status"] == "loading");
    // Answered either before the model came up (503) or just after (200), never dropped.
    CHECK((decode.status == 503 || decode.status == 200));
    if (decode.status == 503) CHECK(json::parse(decode.body)["error"] == "not_ready");
  } else {
    CHECK(ready.status == 200);
  }
  REQUIRE(server.wait_ready(60s));
  CHECK(client.post("/v1/decode", R"({"units":[1],"times_ms":[10]})").status == 200);
}

TEST_CASE("--model serves a checkpoint: config and output scaling from its metadata") {
  // A checkpoint as cortex-train writes it: weights plus model_config, output_scaling, bin_ms.
  const std::string yaml_path = tiny_cortex_config_path();
  std::ifstream yaml_file(yaml_path);
  const std::string yaml((std::istreambuf_iterator<char>(yaml_file)), std::istreambuf_iterator<char>());
  const nn::CortexConfig config = nn::load_cortex_config(yaml_path);
  Generator gen(77);
  nn::Cortex model(config, &gen);
  const std::string path = "/tmp/cortex-serve-test-" + std::to_string(getpid()) + ".safetensors";
  nn::save_safetensors(path, model.state_dict(),
                       {{"model_config", yaml},
                        {"output_scaling", R"({"mean":[1.5,-2.0],"std":[3.0,0.5]})"},
                        {"bin_ms", "20"},
                        {"step", "42"}});
  ServerProcess server({"--model", path});
  REQUIRE(server.wait_ready());
  HttpClient http("127.0.0.1", server.port());
  const json info = json::parse(http.get("/v1/model").body);
  CHECK(info["name"] == "cortex-test");
  CHECK(info["config"]["step"] == "42");
  CHECK(info["version"].get<std::string>().rfind("step42-", 0) == 0);
  CHECK(info["parameters"].get<int64_t>() == model.num_parameters());

  // The same checkpoint decoded in-process with the scaling applied by hand.
  auto local_model = std::make_unique<nn::Cortex>(config, &gen);
  local_model->load_state_dict(nn::load_safetensors(path).tensors);
  CortexServingOptions plain;
  plain.query_bin_ms = 20.0;
  CortexDecoder local(std::move(local_model), plain);
  Window w;
  w.units = {1, 7, 30, 63};
  w.times_ms = {5.0, 120.0, 333.0, 590.0};
  w.counts = {1, 2, 1, 5};
  w.end_ms = 600.0;
  const std::vector<float> raw = local.decode({&w})[0];
  const HttpReply r = http.post("/v1/decode", encode_json_request(w));
  REQUIRE(r.status == 200);
  const auto served = json::parse(r.body)["velocity"].get<std::vector<float>>();
  REQUIRE(served.size() == 2);
  CHECK(served[0] == doctest::Approx(raw[0] * 3.0 + 1.5).epsilon(1e-5));
  CHECK(served[1] == doctest::Approx(raw[1] * 0.5 - 2.0).epsilon(1e-5));
  std::remove(path.c_str());
}

TEST_CASE("--model with a missing file: the server says why and exits non-zero") {
  ServerProcess server({"--model", "/nonexistent/model.safetensors"});
  CHECK(server.wait_exit(30s) == 1);
  const std::string log = server.log();
  CHECK(log.find("load_failed") != std::string::npos);
  CHECK(log.find("/nonexistent/model.safetensors") != std::string::npos);
}

TEST_CASE("SIGTERM while the model is still loading: exits 0 without serving") {
  ServerProcess server({"--init", "cortex-xs"});
  server.signal(SIGTERM);
  CHECK(server.wait_exit(120s) == 0);
  CHECK(server.log().find("\"reason\":\"SIGTERM\"") != std::string::npos);
}
