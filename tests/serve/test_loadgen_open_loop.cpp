// The cortex-loadgen binary's open loop against the real server (a small Cortex on the CPU):
// its event-loop threads send the Poisson schedule over a few shared connections, every sent
// request is answered or counted as an error, and the client's send lag stays small at a
// load the server keeps up with.
#include <unistd.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "tests/serve/server_process.h"
#include "tests/test_util.h"

using namespace cortex::serve::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string loadgen_path() {
  char buf[4096];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  REQUIRE(n > 0);
  const std::string self(buf, static_cast<size_t>(n));
  return self.substr(0, self.rfind('/')) + "/cortex-loadgen";
}

// The JSON summary cortex-loadgen --json prints as its last line.
json summary_of(const std::string& out) {
  const size_t end = out.find_last_not_of('\n');
  REQUIRE(end != std::string::npos);
  const size_t newline = out.rfind('\n', end);
  const size_t start = newline == std::string::npos ? 0 : newline + 1;
  return json::parse(out.substr(start, end + 1 - start));
}

// Runs the command and returns its standard output.
std::string run(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  REQUIRE(pipe != nullptr);
  std::string out;
  std::array<char, 4096> chunk{};
  while (fgets(chunk.data(), static_cast<int>(chunk.size()), pipe.get()) != nullptr) out += chunk.data();
  return out;
}

}  // namespace

TEST_CASE("cortex-loadgen open loop: event-loop threads share the connections, every request accounted for") {
  const std::string loadgen = loadgen_path();
  REQUIRE_MESSAGE(access(loadgen.c_str(), X_OK) == 0, "build the cortex-loadgen target: ", loadgen);
  ServerProcess server({"--init", tiny_cortex_config_path(), "--deadline-ms", "60000"});
  REQUIRE(server.wait_ready(60s));
  const std::string out = run(loadgen + " --port " + std::to_string(server.port()) +
                              " --mode open --rate 40 --duration 2 --warmup 0.5 --connections 6 --threads 2"
                              " --events 64 --encoding binary --slo-ms 60000 --json 2>/dev/null");
  const json summary = summary_of(out);
  INFO(summary.dump());
  CHECK(summary.at("threads") == 2);
  CHECK(summary.at("connections") == 6);
  // 80 arrivals expected in the measured 2 s; a Poisson count stays well inside 40..130.
  const int64_t sent = summary.at("sent").get<int64_t>(), ok = summary.at("ok").get<int64_t>();
  CHECK(sent > 40);
  CHECK(sent < 130);
  int64_t failed = 0;
  for (const auto& [status, n] : summary.at("errors").items()) failed += n.get<int64_t>();
  CHECK(ok + failed == sent);
  CHECK(ok > 0);
  // Six connections for ~40/s on a small model: requests go out on time, not queued behind a thread.
  CHECK(summary.at("send_lag_p50_ms").get<double>() < 50.0);
  CHECK(summary.at("p99_ms").get<double>() >= summary.at("send_lag_p99_ms").get<double>());
}

TEST_CASE("cortex-loadgen open loop: a connection the server closed while idle is reopened, not an error") {
  const std::string loadgen = loadgen_path();
  REQUIRE_MESSAGE(access(loadgen.c_str(), X_OK) == 0, "build the cortex-loadgen target: ", loadgen);
  // The server drops connections idle for 150 ms; arrivals ~250 ms apart on one connection.
  ServerProcess server({"--init", tiny_cortex_config_path(), "--deadline-ms", "60000", "--idle-timeout-ms", "150"});
  REQUIRE(server.wait_ready(60s));
  const json summary = summary_of(run(loadgen + " --port " + std::to_string(server.port()) +
                                      " --mode open --rate 4 --duration 3 --warmup 0.2 --connections 1 --events 32"
                                      " --slo-ms 60000 --json 2>/dev/null"));
  INFO(summary.dump());
  CHECK(summary.at("ok").get<int64_t>() == summary.at("sent").get<int64_t>());
  CHECK(summary.at("ok").get<int64_t>() > 3);
  CHECK(summary.at("errors").empty());
}
