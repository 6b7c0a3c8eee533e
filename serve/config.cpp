#include "serve/config.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <functional>
#include <thread>

#include "cuda/host_wait.h"
#include "engine/error.h"
#include "serve/thread_setup.h"

extern char** environ;

namespace cortex::serve {

namespace {

// Every setting by its snake_case name, set from text; the one table serves YAML, env and flags.
using Setter = std::function<void(ServerConfig&, const std::string&)>;

int64_t to_int(const std::string& key, const std::string& v) {
  size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  CORTEX_CHECK(used == v.size() && !v.empty(), "cortex-serve config", key, " expects an integer, got '", v, "'");
  return x;
}
double to_double(const std::string& key, const std::string& v) {
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  CORTEX_CHECK(used == v.size() && !v.empty(), "cortex-serve config", key, " expects a number, got '", v, "'");
  // stod reads "inf" and "nan"; as a deadline or timeout either would overflow the clock arithmetic.
  CORTEX_CHECK(std::isfinite(x), "cortex-serve config", key, " must be a finite number, got '", v, "'");
  return x;
}
bool to_bool(const std::string& key, const std::string& v) {
  std::string s = v;
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  if (s == "1" || s == "true" || s == "yes" || s == "on") return true;
  if (s == "0" || s == "false" || s == "no" || s == "off") return false;
  CORTEX_FAIL("cortex-serve config", key, " expects true or false, got '", v, "'");
}

const std::map<std::string, Setter>& setters() {
  static const std::map<std::string, Setter> table = {
      {"model", [](ServerConfig& c, const std::string& v) { c.model_path = v; }},
      {"init", [](ServerConfig& c, const std::string& v) { c.init_config = v; }},
      {"init_seed", [](ServerConfig& c, const std::string& v) { c.init_seed = to_int("init_seed", v); }},
      {"host", [](ServerConfig& c, const std::string& v) { c.host = v; }},
      {"port", [](ServerConfig& c, const std::string& v) { c.port = static_cast<int>(to_int("port", v)); }},
      {"device", [](ServerConfig& c, const std::string& v) { c.device = v; }},
      {"dtype", [](ServerConfig& c, const std::string& v) { c.dtype = v; }},
      {"io_threads", [](ServerConfig& c, const std::string& v) { c.io_threads = static_cast<int>(to_int("io_threads", v)); }},
      {"workers", [](ServerConfig& c, const std::string& v) { c.workers = static_cast<int>(to_int("workers", v)); }},
      {"worker_cpus", [](ServerConfig& c, const std::string& v) { c.worker_cpus = v; }},
      {"io_cpus", [](ServerConfig& c, const std::string& v) { c.io_cpus = v; }},
      {"max_batch", [](ServerConfig& c, const std::string& v) {
         c.max_batch = static_cast<int>(to_int("max_batch", v));
         // Checked here: 0 stands for "not set" inside load_config.
         CORTEX_CHECK(c.max_batch >= 1, "cortex-serve config", "max_batch must be at least 1, got ", c.max_batch);
       }},
      {"batching", [](ServerConfig& c, const std::string& v) { c.batching = to_bool("batching", v); }},
      {"deadline_ms", [](ServerConfig& c, const std::string& v) { c.default_deadline_ms = to_double("deadline_ms", v); }},
      {"max_batch_wait_ms", [](ServerConfig& c, const std::string& v) { c.max_batch_wait_ms = to_double("max_batch_wait_ms", v); }},
      {"queue_capacity", [](ServerConfig& c, const std::string& v) { c.queue_capacity = static_cast<int>(to_int("queue_capacity", v)); }},
      {"retry_after_s", [](ServerConfig& c, const std::string& v) { c.retry_after_s = to_double("retry_after_s", v); }},
      {"max_body_bytes", [](ServerConfig& c, const std::string& v) { c.max_body_bytes = to_int("max_body_bytes", v); }},
      {"max_events", [](ServerConfig& c, const std::string& v) { c.max_events = to_int("max_events", v); }},
      {"read_timeout_ms", [](ServerConfig& c, const std::string& v) { c.read_timeout_ms = to_double("read_timeout_ms", v); }},
      {"idle_timeout_ms", [](ServerConfig& c, const std::string& v) { c.idle_timeout_ms = to_double("idle_timeout_ms", v); }},
      {"drain_timeout_ms", [](ServerConfig& c, const std::string& v) { c.drain_timeout_ms = to_double("drain_timeout_ms", v); }},
      {"cache_page_size", [](ServerConfig& c, const std::string& v) { c.cache_page_size = to_int("cache_page_size", v); }},
      {"cache_pages", [](ServerConfig& c, const std::string& v) { c.cache_pages = to_int("cache_pages", v); }},
      {"max_streams", [](ServerConfig& c, const std::string& v) { c.max_streams = to_int("max_streams", v); }},
      {"cuda_graphs", [](ServerConfig& c, const std::string& v) { c.cuda_graphs = to_bool("cuda_graphs", v); }},
      {"cuda_wait", [](ServerConfig& c, const std::string& v) { c.cuda_wait = v; }},
      {"warmup", [](ServerConfig& c, const std::string& v) { c.warmup = to_bool("warmup", v); }},
      {"log_level", [](ServerConfig& c, const std::string& v) { c.log_level = v; }},
  };
  return table;
}

void set(ServerConfig& c, const std::string& key, const std::string& value, const char* source) {
  auto it = setters().find(key);
  CORTEX_CHECK(it != setters().end(), "cortex-serve config", "unknown setting '", key, "' from ", source,
               " (see --help)");
  try {
    it->second(c, value);
  } catch (const Error& e) {
    throw Error(std::string(e.what()) + " (from " + source + ")");
  }
}

constexpr int kMaxThreads = 256;

void check(const ServerConfig& c) {
  CORTEX_CHECK(c.dtype == "f32" || c.dtype == "bf16" || c.dtype == "f16", "cortex-serve config",
               "dtype must be f32, bf16 or f16, got '", c.dtype, "'");
  CORTEX_CHECK(cuda::parse_host_wait(c.cuda_wait).has_value(), "cortex-serve config",
               "cuda_wait must be auto, spin, yield or blocking, got '", c.cuda_wait, "'");
  CORTEX_CHECK(c.port >= 0 && c.port <= 65535, "cortex-serve config", "port must be 0..65535, got ", c.port);
  CORTEX_CHECK(c.queue_capacity >= 1, "cortex-serve config", "queue_capacity must be at least 1");
  CORTEX_CHECK(c.default_deadline_ms > 0, "cortex-serve config", "deadline_ms must be positive");
  CORTEX_CHECK(c.max_batch_wait_ms >= 0, "cortex-serve config", "max_batch_wait_ms must be 0 or more, got ",
               c.max_batch_wait_ms);
  CORTEX_CHECK(c.retry_after_s >= 0, "cortex-serve config", "retry_after_s must be 0 or more, got ", c.retry_after_s);
  CORTEX_CHECK(c.read_timeout_ms > 0 && c.idle_timeout_ms > 0 && c.drain_timeout_ms > 0, "cortex-serve config",
               "read_timeout_ms, idle_timeout_ms and drain_timeout_ms must be positive");
  CORTEX_CHECK(c.max_events >= 1 && c.max_streams >= 1, "cortex-serve config",
               "max_events and max_streams must be at least 1");
  CORTEX_CHECK(c.io_threads >= 1 && c.io_threads <= kMaxThreads, "cortex-serve config", "io_threads must be 1..",
               kMaxThreads, ", got ", c.io_threads);
  CORTEX_CHECK(c.workers >= 1 && c.workers <= kMaxThreads, "cortex-serve config", "workers must be 1..", kMaxThreads,
               ", got ", c.workers);
  CORTEX_CHECK(c.cache_page_size >= 1 && c.cache_pages >= 1, "cortex-serve config",
               "cache_page_size and cache_pages must be positive");
  CORTEX_CHECK(c.max_body_bytes >= 64, "cortex-serve config", "max_body_bytes must be at least 64");
  parse_cpu_list("worker_cpus", c.worker_cpus);
  parse_cpu_list("io_cpus", c.io_cpus);
}

std::string snake_from_flag(std::string flag) {
  std::replace(flag.begin(), flag.end(), '-', '_');
  return flag;
}

}  // namespace

int default_max_batch(const std::string& device) {
  // On an H100 with Cortex-S, 32 saturated at 13,900 decodes/s where 64 reached 15,100-17,900/s
  // with a p99 under 10 ms. The CPU keeps the 32 its sweeps were measured with.
  return device.rfind("cuda", 0) == 0 ? 64 : 32;
}

int default_io_threads() {
  const int hardware = static_cast<int>(std::thread::hardware_concurrency());  // 0 when unknown
  return std::min(8, std::max(2, hardware / 4));
}

nlohmann::json ServerConfig::to_json() const {
  return {{"model", model_path},
          {"init", init_config},
          {"host", host},
          {"port", port},
          {"device", device},
          {"dtype", dtype},
          {"cuda_graphs", cuda_graphs},
          {"cuda_wait", cuda_wait},
          {"io_threads", io_threads},
          {"workers", workers},
          {"worker_cpus", worker_cpus},
          {"io_cpus", io_cpus},
          {"max_batch", max_batch},
          {"batching", batching},
          {"deadline_ms", default_deadline_ms},
          {"max_batch_wait_ms", max_batch_wait_ms},
          {"queue_capacity", queue_capacity},
          {"max_body_bytes", max_body_bytes},
          {"max_events", max_events},
          {"read_timeout_ms", read_timeout_ms},
          {"idle_timeout_ms", idle_timeout_ms},
          {"cache_page_size", cache_page_size},
          {"cache_pages", cache_pages},
          {"max_streams", max_streams}};
}

void apply_yaml_file(ServerConfig& config, const std::string& path) {
  YAML::Node doc;
  try {
    doc = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    CORTEX_FAIL("cortex-serve config", "cannot read YAML file '", path, "': ", e.what());
  }
  if (doc.IsNull()) return;
  CORTEX_CHECK(doc.IsMap(), "cortex-serve config", "'", path, "' must hold a mapping of settings");
  for (const auto& kv : doc) {
    const std::string key = kv.first.as<std::string>();
    CORTEX_CHECK(kv.second.IsScalar(), "cortex-serve config", "setting '", key, "' in '", path, "' must be a scalar");
    set(config, key, kv.second.as<std::string>(), path.c_str());
  }
}

void apply_environment(ServerConfig& config, const std::map<std::string, std::string>& env) {
  for (const auto& [key, setter] : setters()) {
    std::string name = "CORTEX_" + key;
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
    auto it = env.find(name);
    if (it != env.end() && !it->second.empty()) set(config, key, it->second, name.c_str());
  }
}

std::map<std::string, std::string> process_environment() {
  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string entry(*e);
    const size_t eq = entry.find('=');
    if (eq != std::string::npos && entry.rfind("CORTEX_", 0) == 0) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

ServerConfig load_config(int argc, const char* const* argv, const std::map<std::string, std::string>& env) {
  // Flags are gathered first so --config can be applied before env and the other flags.
  std::vector<std::pair<std::string, std::string>> flags;
  std::string yaml_path;
  if (auto it = env.find("CORTEX_SERVE_CONFIG"); it != env.end()) yaml_path = it->second;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    CORTEX_CHECK(arg.rfind("--", 0) == 0, "cortex-serve", "unexpected argument '", arg, "'\n", usage());
    arg = arg.substr(2);
    std::string value;
    if (const size_t eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else if (arg == "no-batching" || arg == "no-warmup") {
      flags.emplace_back(arg.substr(3), "false");
      continue;
    } else {
      CORTEX_CHECK(i + 1 < argc, "cortex-serve", "flag --", arg, " needs a value\n", usage());
      value = argv[++i];
    }
    if (arg == "config") {
      yaml_path = value;
      continue;
    }
    flags.emplace_back(snake_from_flag(arg), value);
  }
  ServerConfig config;
  config.max_batch = 0;  // not set: chosen by device below
  if (!yaml_path.empty()) apply_yaml_file(config, yaml_path);
  apply_environment(config, env);
  for (const auto& [key, value] : flags) set(config, key, value, "the command line");
  if (config.max_batch == 0) config.max_batch = default_max_batch(config.device);
  check(config);
  return config;
}

std::string usage() {
  return "usage: cortex-serve (--model FILE.safetensors | --init CONFIG_NAME) [options]\n"
         "  --config FILE.yaml     settings file (keys: the option names with '_')\n"
         "  --host H --port N      listen address (port 0 picks a free one; the bound port is printed)\n"
         "  --device cpu|cuda:N    where the model runs\n"
         "  --dtype f32|bf16|f16   weights and activations (default f32)\n"
         "  --cuda-graphs false    on a GPU, run every batch eagerly instead of replaying CUDA graphs\n"
         "  --cuda-wait MODE       how the worker waits for the GPU: auto, spin, yield or blocking\n"
         "  --max-batch N          largest batch; --no-batching serves one request at a time\n"
         "  --deadline-ms X        default deadline of a request\n"
         "  --max-batch-wait-ms X  longest a batch is held open for more requests\n"
         "  --queue-capacity N     admitted requests waiting at most (beyond: 429)\n"
         "  --max-body-bytes N --max-events N --read-timeout-ms X --idle-timeout-ms X --drain-timeout-ms X\n"
         "  --cache-page-size N --cache-pages N --max-streams N   streaming cache\n"
         "  --workers N            scheduler workers running batches concurrently (default 1; 2 raise GPU throughput)\n"
         "  --io-threads N         HTTP/WebSocket threads (default: min(8, max(2, cores / 4)))\n"
         "  --worker-cpus LIST --io-cpus LIST   pin the scheduler workers / the I/O threads to CPUs (e.g. 2,3 and 4-7)\n"
         "  --init-seed S --no-warmup --log-level debug|info|warn\n"
         "Environment: CORTEX_<OPTION> (CORTEX_PORT, CORTEX_DEVICE, CORTEX_MAX_BATCH, CORTEX_WORKERS, CORTEX_IO_THREADS, ...).\n";
}

}  // namespace cortex::serve
