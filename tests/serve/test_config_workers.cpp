// The concurrency settings: scheduler workers and I/O threads, from YAML, environment and
// flags, their defaults, and refusals of values out of range.
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>

#include "serve/config.h"
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

TEST_CASE("workers: 0 by default, meaning 2 on a GPU and 1 on the CPU; set values win") {
  const ServerConfig d = parse({});
  CHECK(d.workers == 0);
  CHECK(worker_count(d, true) == 2);
  CHECK(worker_count(d, false) == 1);
  const ServerConfig three = parse({"--workers", "3"});
  CHECK(three.workers == 3);
  CHECK(worker_count(three, true) == 3);
  CHECK(worker_count(three, false) == 3);
  CHECK(parse({"--workers=4"}).workers == 4);
  CHECK(parse({}, {{"CORTEX_WORKERS", "5"}}).workers == 5);
  CHECK(parse({"--workers", "1"}, {{"CORTEX_WORKERS", "5"}}).workers == 1);  // flags over env
  CHECK(d.to_json().at("workers") == 0);
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
  CHECK(error_of({"--workers", "-1"}).find("workers must be 0..256") != std::string::npos);
  CHECK(error_of({"--workers", "1000"}).find("workers must be 0..256") != std::string::npos);
  CHECK(error_of({"--workers", "two"}).find("workers expects an integer, got 'two'") != std::string::npos);
  CHECK(error_of({}, {{"CORTEX_WORKERS", "x"}}).find("CORTEX_WORKERS") != std::string::npos);
  CHECK(error_of({"--io-threads", "0"}).find("io_threads must be 1..256") != std::string::npos);
  CHECK(error_of({"--io-threads", "999"}).find("io_threads must be 1..256") != std::string::npos);
  CHECK(error_of({}, {{"CORTEX_IO_THREADS", "-2"}}).find("io_threads must be") != std::string::npos);
}
