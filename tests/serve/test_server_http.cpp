// The real server binary over loopback HTTP: endpoints, decode in JSON and binary, and every
// robustness case (bad bodies, limits, slow and vanishing clients); the server keeps serving.
#include <signal.h>

#include <thread>

#include "serve/client.h"
#include "serve/reference_decoder.h"
#include "serve/request_codec.h"
#include "tests/serve/server_process.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::serve;
using namespace cortex::serve::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

Window reference_window() {
  Window w;
  w.units = {0, 5, 5, 17, 95, 40};
  w.times_ms = {3.0, 60.0, 61.5, 300.0, 420.25, 599.0};
  w.counts = {1, 2, 1, 1, 4, 1};
  w.end_ms = 600.0;
  return w;
}

// A counter's value in the Prometheus text, 0 when absent.
double metric(const std::string& text, const std::string& series) {
  const size_t at = text.find(series + " ");
  if (at == std::string::npos) return 0.0;
  return std::stod(text.substr(at + series.size() + 1));
}

std::string http_request(const std::string& method, const std::string& target, const std::string& body,
                         const std::string& extra_headers = "") {
  return method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

}  // namespace

TEST_CASE("HTTP: endpoints, decode in JSON and binary, and every robustness case") {
  ServerProcess server({"--init", "reference", "--max-body-bytes", "4096", "--read-timeout-ms", "400",
                        "--idle-timeout-ms", "2000", "--deadline-ms", "1000"});
  REQUIRE(server.wait_ready());
  HttpClient client("127.0.0.1", server.port());

  SUBCASE("health, ready, model, metrics, unknown paths and methods") {
    CHECK(client.get("/health").status == 200);
    CHECK(json::parse(client.get("/ready").body)["status"] == "ready");
    const json model = json::parse(client.get("/v1/model").body);
    CHECK(model["name"] == "reference");
    CHECK(model["parameters"].get<int64_t>() == 2 * 96 * 12 + 2);
    CHECK(model["dtype"] == "f32");
    CHECK(model["device"] == "cpu");
    CHECK(model["config"]["num_units"] == 96);
    const HttpReply metrics = client.get("/metrics");
    CHECK(metrics.status == 200);
    CHECK(metrics.headers.at("content-type").find("text/plain") == 0);
    CHECK(metrics.body.find("# TYPE cortex_request_latency_seconds histogram") != std::string::npos);
    const HttpReply missing = client.get("/v2/nothing");
    CHECK(missing.status == 404);
    CHECK(json::parse(missing.body)["error"] == "not_found");
    CHECK(client.get("/v1/decode").status == 405);
    CHECK(client.post("/health", "{}").status == 405);
    CHECK(client.get("/v1/stream").status == 405);  // needs a WebSocket upgrade
  }

  SUBCASE("decode answers equal the reference decoder in-process, JSON and binary") {
    ReferenceConfig rc;
    rc.seed = 1234;  // the server's default --init-seed
    ReferenceDecoder local(rc);
    const Window w = reference_window();
    const std::vector<float> expected = local.decode({&w})[0];
    const HttpReply j = client.post("/v1/decode", encode_json_request(w, 500.0, false));
    REQUIRE(j.status == 200);
    const json doc = json::parse(j.body);
    CHECK(doc["velocity"].get<std::vector<float>>() == expected);
    CHECK(doc["model"]["name"] == "reference");
    CHECK(doc["model"]["version"] == "init-1234");
    CHECK(doc["timings_ms"]["total"].get<double>() >= doc["timings_ms"]["compute"].get<double>());
    CHECK(doc["batch_size"].get<int>() >= 1);
    const HttpReply b = client.post("/v1/decode", encode_binary_request(w, 600.0), "application/octet-stream");
    REQUIRE(b.status == 200);
    CHECK(json::parse(b.body)["velocity"].get<std::vector<float>>() == expected);
    // Bins instead of times, and a client id echoed back.
    const HttpReply binned = client.post("/v1/decode", R"({"units":[1,2],"bins":[0,11],"id":"x1"})");
    REQUIRE(binned.status == 200);
    CHECK(json::parse(binned.body)["id"] == "x1");
  }

  SUBCASE("bad bodies get 400/422 with a reason, and the connection keeps working") {
    auto refused = [&](const std::string& body, int status, const std::string& reason) {
      const HttpReply r = client.post("/v1/decode", body);
      CHECK(r.status == status);
      const json doc = json::parse(r.body);
      CHECK(doc["error"] == reason);
      CHECK_FALSE(doc["message"].get<std::string>().empty());
    };
    refused(R"({"units":[1,2],"times_ms":[1,)", 400, "malformed");
    refused(R"({"units":"abc","times_ms":[1]})", 400, "wrong_type");
    refused(R"({"units":[1],"times_ms":[true]})", 400, "wrong_type");
    refused(R"({"units":[1,96],"times_ms":[1,2]})", 422, "unit_out_of_range");
    refused(R"({"units":[-3],"times_ms":[1]})", 422, "unit_out_of_range");
    refused(R"({"units":[],"times_ms":[]})", 422, "empty_window");
    refused(R"({"units":[1,2],"times_ms":[50,10]})", 422, "out_of_order");
    refused(R"({"units":[1],"times_ms":[700]})", 422, "time_out_of_window");
    refused(R"({"units":[1],"times_ms":[1],"deadline_ms":-5})", 400, "wrong_type");
    refused("\x01\x02garbage", 400, "malformed");
    const HttpReply bin = client.post("/v1/decode", "CXD1-not-really", "application/octet-stream");
    CHECK(bin.status == 400);
    CHECK(client.post("/v1/decode", encode_json_request(reference_window())).status == 200);
  }

  SUBCASE("a body over the size limit gets 413 and the server keeps serving") {
    Window big;
    big.end_ms = 600;
    for (int i = 0; i < 400; ++i) {
      big.units.push_back(i % 96);
      big.times_ms.push_back(i);
      big.counts.push_back(1);
    }
    RawConnection raw(server.port());
    raw.send(http_request("POST", "/v1/decode", encode_json_request(big)));
    const std::string reply = raw.read_all(2000ms);
    CHECK(status_of(reply) == 413);
    CHECK(reply.find("body_too_large") != std::string::npos);
    CHECK(client.get("/health").status == 200);
  }

  SUBCASE("slow and stalled clients get 408 after the read timeout") {
    RawConnection headers_only(server.port());
    headers_only.send("POST /v1/decode HTTP/1.1\r\nHost: x\r\nContent-Le");  // stalls mid-header
    RawConnection partial_body(server.port());
    partial_body.send("POST /v1/decode HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"units\":");
    const auto t0 = std::chrono::steady_clock::now();
    const std::string a = headers_only.read_all(5000ms);
    const std::string b = partial_body.read_all(5000ms);
    CHECK(status_of(a) == 408);
    CHECK(status_of(b) == 408);
    CHECK(b.find("client_timeout") != std::string::npos);
    CHECK(std::chrono::steady_clock::now() - t0 < 4000ms);  // the 2 s idle timeout, with room for a busy machine
    CHECK(client.get("/health").status == 200);
  }

  SUBCASE("abrupt disconnects mid-request lose nothing admitted and break nothing") {
    const std::string before = client.get("/metrics").body;
    const double ok_before = metric(before, R"(cortex_requests_total{endpoint="decode",status="200"})");
    {
      RawConnection cut(server.port());
      const std::string body = encode_json_request(reference_window());
      cut.send(http_request("POST", "/v1/decode", body).substr(0, 60));  // half a request
    }
    for (int i = 0; i < 5; ++i) {
      RawConnection gone(server.port());
      gone.send(http_request("POST", "/v1/decode", encode_json_request(reference_window())));
    }  // full requests, then the clients vanish before the answers
    // Every admitted request is still answered (and counted) although nobody reads the answer.
    double ok_after = 0;
    for (int i = 0; i < 100 && ok_after < ok_before + 5; ++i) {
      std::this_thread::sleep_for(50ms);
      ok_after = metric(client.get("/metrics").body, R"(cortex_requests_total{endpoint="decode",status="200"})");
    }
    CHECK(ok_after == ok_before + 5);
    CHECK(client.post("/v1/decode", encode_json_request(reference_window())).status == 200);
  }

  SUBCASE("malformed HTTP gets 400; every rejection reason is counted") {
    RawConnection raw(server.port());
    raw.send("THIS IS NOT HTTP\r\n\r\n");
    CHECK(status_of(raw.read_all(1000ms)) == 400);
    client.post("/v1/decode", "{");
    client.post("/v1/decode", R"({"units":[1000],"times_ms":[1]})");
    const std::string m = client.get("/metrics").body;
    CHECK(metric(m, R"(cortex_rejections_total{reason="malformed"})") >= 2);
    CHECK(metric(m, R"(cortex_rejections_total{reason="unit_out_of_range"})") >= 1);
  }
}

TEST_CASE("HTTP: without a model to serve the binary exits with a clear message") {
  // Not through ServerProcess: the binary refuses before printing a port.
  const std::string cmd = "\"$(dirname $(readlink /proc/" + std::to_string(getpid()) +
                          "/exe))/cortex-serve\" 2>&1; echo \"rc=$?\"";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p);
  std::string out;
  char buf[512];
  while (fgets(buf, sizeof(buf), p)) out += buf;
  pclose(p);
  CHECK(out.find("nothing to serve") != std::string::npos);
  CHECK(out.find("--model") != std::string::npos);
  CHECK(out.find("rc=2") != std::string::npos);
}
