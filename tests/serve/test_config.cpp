// Settings: defaults < YAML file < environment < flags, and clear errors for bad input.
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <thread>

#include "serve/config.h"
#include "serve/metrics.h"
#include "serve/thread_setup.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::serve;

namespace {
ServerConfig parse(std::vector<const char*> args, const std::map<std::string, std::string>& env = {}) {
  args.insert(args.begin(), "cortex-serve");
  return load_config(static_cast<int>(args.size()), args.data(), env);
}

std::string error_of(std::vector<const char*> args, const std::map<std::string, std::string>& env = {}) {
  try {
    parse(std::move(args), env);
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

TEST_CASE("configuration layers: YAML, then environment, then flags") {
  const std::string path = "/tmp/cortex_serve_test_config_" + std::to_string(getpid()) + ".yaml";
  {
    std::ofstream f(path);
    f << "port: 9000\nmax_batch: 4\ndeadline_ms: 25\ndevice: cpu\nbatching: false\ninit: cortex-xs\n";
  }
  ServerConfig c = parse({"--config", path.c_str()});
  CHECK(c.port == 9000);
  CHECK(c.max_batch == 4);
  CHECK(c.default_deadline_ms == 25.0);
  CHECK_FALSE(c.batching);
  CHECK(c.init_config == "cortex-xs");

  c = parse({"--config", path.c_str()}, {{"CORTEX_PORT", "9100"}, {"CORTEX_MAX_BATCH", "16"}});
  CHECK(c.port == 9100);
  CHECK(c.max_batch == 16);

  c = parse({"--config", path.c_str(), "--port", "0", "--max-batch=2"}, {{"CORTEX_PORT", "9100"}});
  CHECK(c.port == 0);
  CHECK(c.max_batch == 2);

  c = parse({}, {{"CORTEX_SERVE_CONFIG", path}, {"CORTEX_DEADLINE_MS", "7.5"}});
  CHECK(c.port == 9000);
  CHECK(c.default_deadline_ms == 7.5);
  std::remove(path.c_str());
}

TEST_CASE("flags: naive baseline switches and defaults") {
  ServerConfig c = parse({"--init", "reference", "--max-batch", "1", "--no-batching", "--no-warmup"});
  CHECK(c.max_batch == 1);
  CHECK_FALSE(c.batching);
  CHECK_FALSE(c.warmup);
  CHECK(c.host == "127.0.0.1");
  ServerConfig d = parse({});
  CHECK(d.max_batch == 32);  // the CPU's
  CHECK(d.max_batch_wait_ms == 1.0);
  CHECK(parse({"--device", "cuda:1"}).max_batch == 64);
  CHECK(parse({}, {{"CORTEX_DEVICE", "cuda"}}).max_batch == 64);
  // An empty variable (the Helm chart's maxBatch: "") leaves the choice to the device.
  CHECK(parse({}, {{"CORTEX_DEVICE", "cuda:0"}, {"CORTEX_MAX_BATCH", ""}}).max_batch == 64);
  CHECK(parse({"--device", "cuda:0", "--max-batch", "16"}).max_batch == 16);
  CHECK(parse({"--max-batch", "48"}, {{"CORTEX_DEVICE", "cuda"}}).max_batch == 48);
  CHECK(d.batching);
  CHECK(d.model_path.empty());
  CHECK(d.init_config.empty());
  CHECK(d.dtype == "f32");
  CHECK(parse({"--dtype", "bf16"}).dtype == "bf16");
  CHECK(d.cuda_wait == "auto");
  CHECK(parse({"--cuda-wait", "blocking"}).cuda_wait == "blocking");
  CHECK(parse({}, {{"CORTEX_CUDA_WAIT", "yield"}}).cuda_wait == "yield");
  CHECK(parse({}, {{"CORTEX_DTYPE", "bf16"}}).dtype == "bf16");
}

TEST_CASE("bad settings are refused with the setting's name") {
  auto message = [](std::vector<const char*> args, std::map<std::string, std::string> env = {}) {
    try {
      parse(std::move(args), env);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message({"--port", "eighty"}).find("port expects an integer") != std::string::npos);
  CHECK(message({"--port", "70000"}).find("port must be") != std::string::npos);
  CHECK(message({"--max-batch", "0"}).find("max_batch must be at least 1") != std::string::npos);
  CHECK(message({}, {{"CORTEX_MAX_BATCH", "-3"}}).find("max_batch must be at least 1") != std::string::npos);
  CHECK(message({"--frobnicate", "1"}).find("unknown setting 'frobnicate'") != std::string::npos);
  CHECK(message({"--port"}).find("needs a value") != std::string::npos);
  CHECK(message({"--dtype", "int8"}).find("dtype must be f32, bf16 or f16") != std::string::npos);
  CHECK(message({"--cuda-wait", "nap"}).find("cuda_wait must be auto, spin, yield or blocking") != std::string::npos);
  CHECK(message({"--deadline-ms", "inf"}).find("deadline_ms must be a finite number") != std::string::npos);
  CHECK(message({}, {{"CORTEX_MAX_BATCH_WAIT_MS", "nan"}}).find("max_batch_wait_ms must be a finite number") !=
        std::string::npos);
  CHECK(message({"--max-batch-wait-ms", "-1"}).find("max_batch_wait_ms must be 0 or more") != std::string::npos);
  CHECK(parse({"--max-batch-wait-ms", "0"}).max_batch_wait_ms == 0.0);
  CHECK(message({"--retry-after-s", "-2"}).find("retry_after_s must be 0 or more") != std::string::npos);
  CHECK(message({"--read-timeout-ms", "0"}).find("must be positive") != std::string::npos);
  CHECK(message({"--drain-timeout-ms", "-5"}).find("must be positive") != std::string::npos);
  CHECK(message({"--max-events", "0"}).find("max_events and max_streams must be at least 1") != std::string::npos);
  CHECK(message({"--max-streams", "0"}).find("max_events and max_streams must be at least 1") != std::string::npos);
  CHECK(message({}, {{"CORTEX_BATCHING", "maybe"}}).find("CORTEX_BATCHING") != std::string::npos);
  CHECK(message({"--config", "/nonexistent/x.yaml"}).find("cannot read YAML") != std::string::npos);
}

TEST_CASE("metrics render in Prometheus text format with the required latency buckets") {
  Metrics m;
  m.count_request("decode", 200);
  m.count_rejection(Rejection::queue_full);
  m.observe_latency("decode", 0.007);
  m.observe_batch(8);
  m.count_deadline_miss("expired_in_queue");
  m.set_cache(3, 10, 1, 30, 10);
  const std::string text = m.render();
  CHECK(text.find("cortex_requests_total{endpoint=\"decode\",status=\"200\"} 1") != std::string::npos);
  CHECK(text.find("cortex_rejections_total{reason=\"queue_full\"} 1") != std::string::npos);
  for (const char* edge : {"le=\"0.005\"", "le=\"0.01\"", "le=\"0.03\"", "le=\"0.05\""})
    CHECK(text.find(std::string("cortex_request_latency_seconds_bucket{endpoint=\"decode\",") + edge) !=
          std::string::npos);
  CHECK(text.find("cortex_request_latency_seconds_bucket{endpoint=\"decode\",le=\"0.005\"} 0") != std::string::npos);
  CHECK(text.find("cortex_request_latency_seconds_bucket{endpoint=\"decode\",le=\"0.01\"} 1") != std::string::npos);
  CHECK(text.find("cortex_cache_hit_rate 0.75") != std::string::npos);
  CHECK(text.find("cortex_cache_pages{state=\"in_use\"} 3") != std::string::npos);
  CHECK(text.find("# TYPE cortex_batch_size histogram") != std::string::npos);
  // Every rejection reason has a counter from the start.
  for (Rejection r : {Rejection::malformed, Rejection::body_too_large, Rejection::client_timeout,
                      Rejection::deadline_expired, Rejection::internal})
    CHECK(text.find(std::string("cortex_rejections_total{reason=\"") + rejection_name(r) + "\"}") != std::string::npos);
}

// The concurrency settings: scheduler workers and I/O threads.
TEST_CASE("workers: 1 by default; YAML, env and flags override; 0 is refused") {
  const ServerConfig d = parse({});
  CHECK(d.workers == 1);
  CHECK(parse({"--workers", "3"}).workers == 3);
  CHECK(parse({"--workers=4"}).workers == 4);
  CHECK(parse({}, {{"CORTEX_WORKERS", "5"}}).workers == 5);
  CHECK(parse({"--workers", "1"}, {{"CORTEX_WORKERS", "5"}}).workers == 1);  // flags over env
  CHECK(d.to_json().at("workers") == 1);
}

TEST_CASE("io_threads: min(8, max(2, hardware threads / 4)) by default; YAML, env and flags override") {
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());
  const int expected = std::min(8, std::max(2, hardware / 4));
  CHECK(default_io_threads() == expected);
  CHECK(parse({}).io_threads == expected);
  CHECK(default_io_threads() >= 2);
  CHECK(default_io_threads() <= 8);
  CHECK(parse({"--io-threads", "12"}).io_threads == 12);
  CHECK(parse({}, {{"CORTEX_IO_THREADS", "3"}}).io_threads == 3);
  CHECK(parse({"--io-threads", "1"}, {{"CORTEX_IO_THREADS", "3"}}).io_threads == 1);

  const std::string path = "/tmp/cortex_serve_test_workers_" + std::to_string(getpid()) + ".yaml";
  {
    std::ofstream f(path);
    f << "workers: 6\nio_threads: 7\n";
  }
  const ServerConfig y = parse({"--config", path.c_str()});
  CHECK(y.workers == 6);
  CHECK(y.io_threads == 7);
  CHECK(parse({"--config", path.c_str()}, {{"CORTEX_WORKERS", "2"}}).workers == 2);  // env over YAML
  std::remove(path.c_str());
}

TEST_CASE("workers and io_threads out of range are refused with the setting's name") {
  CHECK(error_of({"--workers", "0"}).find("workers must be 1..256") != std::string::npos);
  CHECK(error_of({"--workers", "1000"}).find("workers must be 1..256") != std::string::npos);
  CHECK(error_of({"--workers", "two"}).find("workers expects an integer, got 'two'") != std::string::npos);
  CHECK(error_of({}, {{"CORTEX_WORKERS", "x"}}).find("CORTEX_WORKERS") != std::string::npos);
  CHECK(error_of({"--io-threads", "0"}).find("io_threads must be 1..256") != std::string::npos);
  CHECK(error_of({"--io-threads", "999"}).find("io_threads must be 1..256") != std::string::npos);
  CHECK(error_of({}, {{"CORTEX_IO_THREADS", "-2"}}).find("io_threads must be") != std::string::npos);
}

TEST_CASE("CPU lists: taskset syntax, sorted and distinct, refused with the setting's name when malformed or not ours") {
  const std::vector<int> mine = this_thread_cpus();
  REQUIRE(!mine.empty());
  const std::string first = std::to_string(mine.front()), last = std::to_string(mine.back());
  CHECK(parse_cpu_list("worker_cpus", "").empty());
  CHECK(parse_cpu_list("worker_cpus", first) == std::vector<int>{mine.front()});
  // Ranges, repeats and any order come out sorted and distinct.
  const std::vector<int> all = parse_cpu_list("io_cpus", last + "," + first + "-" + last + "," + first);
  CHECK(all.front() == mine.front());
  CHECK(all.back() == mine.back());
  CHECK(std::is_sorted(all.begin(), all.end()));
  CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
  for (const char* bad : {"a", "1-", "-1", "2-1", "1,,2", "1,", ",1", "0x1", "1 2", "1234567"}) {
    INFO(bad);
    std::string message;
    try {
      parse_cpu_list("worker_cpus", bad);
    } catch (const Error& e) {
      message = e.what();
    }
    CHECK(message.find("worker_cpus") != std::string::npos);
  }
  // A CPU outside this process's affinity (CPU_SETSIZE is 1024; 1023 is never one we are given here).
  std::string message;
  try {
    parse_cpu_list("io_cpus", "1023");
  } catch (const Error& e) {
    message = e.what();
  }
  CHECK(message.find("io_cpus: CPU 1023 is not one this process may run on") != std::string::npos);
  // Through the configuration layers: flags, environment and the error naming the setting.
  CHECK(parse({"--worker-cpus", first.c_str(), "--io-cpus", last.c_str()}).worker_cpus == first);
  CHECK(parse({}, {{"CORTEX_IO_CPUS", first}}).io_cpus == first);
  CHECK(error_of({"--worker-cpus", "3-1"}).find("worker_cpus") != std::string::npos);
  CHECK(parse({}).worker_cpus.empty());
}
