// The real server binary with several scheduler workers and I/O threads (a small Cortex on the
// CPU): concurrent HTTP clients and WebSocket streams all get the answers a one-at-a-time
// decode gives, every stride in order, and SIGTERM still drains to exit 0.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <cmath>
#include <mutex>
#include <random>
#include <thread>

#include "serve/client.h"
#include "serve/request_codec.h"
#include "serve/thread_setup.h"
#include "tests/serve/random_events.h"
#include "tests/serve/server_process.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::serve;
using namespace cortex::serve::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr int64_t kUnits = 64;  // the tiny config's vocabulary

Window random_window(std::mt19937_64& rng, double end_ms, int n) { return random_events(rng, end_ms, 600.0, kUnits, n, 3); }

double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double worst = 0, scale = 1e-6;
  for (float v : b) scale = std::max(scale, static_cast<double>(std::abs(v)));
  for (size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(static_cast<double>(a[i]) - b[i]) / scale);
  return a.size() == b.size() ? worst : 1e9;
}

struct Sent {
  Window window;
  std::vector<float> velocity;
};

}  // namespace

TEST_CASE("several workers and I/O threads: concurrent clients and streams get one-at-a-time answers") {
  // Workers pinned to this process's last CPU, I/O threads to its first (the same on one CPU).
  const std::vector<int> cpus = this_thread_cpus();
  const std::string worker_cpu = std::to_string(cpus.back()), io_cpu = std::to_string(cpus.front());
  ServerProcess server({"--init", tiny_cortex_config_path(), "--workers", "3", "--io-threads", "4", "--max-batch",
                        "4", "--deadline-ms", "60000", "--cache-page-size", "16", "--worker-cpus", worker_cpu,
                        "--io-cpus", io_cpu});
  REQUIRE(server.wait_ready(60s));
  CHECK(server.log().find("\"workers\":3") != std::string::npos);
  CHECK(server.log().find("\"io_threads\":4") != std::string::npos);
  // Threads carry their role's name (top -H, perf), and the process its own despite the re-exec.
  // Each thread's CPUs as /proc/PID/task/*/status lists them: workers on theirs, I/O threads on theirs.
  std::multiset<std::string> names;
  for (const auto& task : std::filesystem::directory_iterator("/proc/" + std::to_string(server.pid()) + "/task")) {
    std::ifstream comm(task.path() / "comm"), status(task.path() / "status");
    std::string name, line, allowed;
    std::getline(comm, name);
    while (std::getline(status, line))
      if (line.rfind("Cpus_allowed_list:", 0) == 0) allowed = line.substr(line.find_first_not_of(" \t", 18));
    names.insert(name);
    INFO(name);
    if (name.rfind("cortex-worker", 0) == 0) CHECK(allowed == worker_cpu);
    if (name.rfind("cortex-io", 0) == 0 || name == "cortex-serve") CHECK(allowed == io_cpu);
  }
  for (const char* name : {"cortex-worker0", "cortex-worker1", "cortex-worker2", "cortex-io1", "cortex-io2",
                           "cortex-io3", "cortex-serve"})
    CHECK_MESSAGE(names.count(name) == 1, name);

  std::mutex mu;
  std::vector<Sent> decoded;  // every HTTP window with its answer
  std::vector<std::vector<Sent>> strided(3);  // per stream: each stride's full window and answer
  std::atomic<int> failures{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 6; ++c) {
    clients.emplace_back([&, c] {
      std::mt19937_64 rng(100 + c);
      HttpClient http("127.0.0.1", server.port(), 60s);
      for (int i = 0; i < 12; ++i) {
        Sent s{random_window(rng, 5000.0 + 10.0 * i, 5 + (i * 7) % 40), {}};
        const HttpReply r = http.post("/v1/decode", encode_json_request(s.window));
        if (r.status != 200) {
          ++failures;
          continue;
        }
        s.velocity = json::parse(r.body)["velocity"].get<std::vector<float>>();
        std::lock_guard<std::mutex> lock(mu);
        decoded.push_back(std::move(s));
      }
    });
  }
  for (int k = 0; k < 3; ++k) {
    clients.emplace_back([&, k] {
      std::mt19937_64 rng(200 + k);
      StreamClient stream("127.0.0.1", server.port(), 60s);
      Window all;
      for (int i = 1; i <= 15; ++i) {
        const double end = 10000.0 + 50.0 * i;
        Window stride = random_window(rng, end, 6);
        for (double& t : stride.times_ms) t = end - 50.0 + std::fmod(t, 50.0);  // inside this stride
        std::vector<size_t> order(stride.size());
        for (size_t e = 0; e < order.size(); ++e) order[e] = e;
        std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return stride.times_ms[a] < stride.times_ms[b]; });
        Window sorted;
        sorted.end_ms = end;
        for (size_t e : order) {
          sorted.units.push_back(stride.units[e]);
          sorted.times_ms.push_back(stride.times_ms[e]);
          sorted.counts.push_back(stride.counts[e]);
        }
        stream.send_binary(encode_binary_request(sorted, 50.0));
        const json reply = json::parse(stream.receive());
        if (!reply.contains("velocity") || reply["seq"].get<int>() != i || reply["end_ms"].get<double>() != end) {
          ++failures;
          return;
        }
        all.units.insert(all.units.end(), sorted.units.begin(), sorted.units.end());
        all.times_ms.insert(all.times_ms.end(), sorted.times_ms.begin(), sorted.times_ms.end());
        all.counts.insert(all.counts.end(), sorted.counts.begin(), sorted.counts.end());
        Window window;
        window.end_ms = end;
        for (size_t e = 0; e < all.size(); ++e)
          if (all.times_ms[e] >= end - 600.0) {
            window.units.push_back(all.units[e]);
            window.times_ms.push_back(all.times_ms[e]);
            window.counts.push_back(all.counts[e]);
          }
        strided[k].push_back({window, reply["velocity"].get<std::vector<float>>()});
      }
    });
  }
  for (auto& t : clients) t.join();
  CHECK(failures == 0);
  REQUIRE(decoded.size() == 6u * 12u);

  // One at a time now: each window alone in its batch.
  HttpClient http("127.0.0.1", server.port(), 60s);
  auto alone = [&](const Window& w) {
    const HttpReply r = http.post("/v1/decode", encode_json_request(w));
    REQUIRE(r.status == 200);
    return json::parse(r.body)["velocity"].get<std::vector<float>>();
  };
  for (const Sent& s : decoded) CHECK(relative_error(s.velocity, alone(s.window)) <= 1e-4);
  for (const auto& stream : strided) {
    CHECK(stream.size() == 15u);
    for (const Sent& s : stream) CHECK(relative_error(s.velocity, alone(s.window)) <= 1e-3);
  }

  server.signal(SIGTERM);
  CHECK(server.wait_exit(60s) == 0);
}
