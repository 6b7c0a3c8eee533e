#pragma once
// Server settings. Precedence, lowest first: defaults, the YAML file (--config or
// CORTEX_SERVE_CONFIG), environment variables (CORTEX_PORT, CORTEX_DEVICE, ...), flags.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cortex::serve {

// min(8, max(2, hardware threads / 4)): enough parsers to feed a GPU at 10k requests/s
// without taking the cores the model's host work needs.
int default_io_threads();
// The largest batch where no setting names one: 64 on a GPU ("cuda", "cuda:N"), 32 on the CPU.
int default_max_batch(const std::string& device);

struct ServerConfig {
  // What to serve: a checkpoint, or a named configuration with random weights.
  std::string model_path;
  std::string init_config;
  uint64_t init_seed = 1234;

  std::string host = "127.0.0.1";
  int port = 8080;  // 0 picks a free port (printed on stdout)
  std::string device = "cpu";
  // Weights and activations: f32, bf16 or f16 (half the weight and activation traffic,
  // tensor-core GEMMs); the model is built or loaded in f32 and converted once at start-up.
  // The streaming cache keeps its rows in f32 whatever this is (exact for bf16/f16 values).
  std::string dtype = "f32";
  // Threads parsing HTTP/JSON and writing replies (default_io_threads(): a few per many-core host).
  int io_threads = default_io_threads();
  // Scheduler workers, each forming and running its own batch so batches overlap. One gave the
  // lower tail latency in every H100 sweep (p99 at 10,000 decodes/s: 10.3 against 23.6 ms with
  // two at 910c9bc; 24.4 against 42.3 ms on a slower host at b215b43); two give more throughput
  // on a GPU (18,094 against 14,899 decodes/s closed loop at 910c9bc).
  int workers = 1;
  // CPU lists ("0-3,8"; empty: no pinning) for the scheduler workers (and the threads they start)
  // and for the I/O threads (the main one included, and the model loader it starts), so that a
  // deployment can give the workers cores nothing else runs on.
  std::string worker_cpus;
  std::string io_cpus;

  // Scheduling. load_config() picks max_batch by device where no source sets it
  // (default_max_batch()); a config built in code keeps 32.
  int max_batch = 32;
  bool batching = true;              // false: one request at a time, never wait (the naive baseline)
  double default_deadline_ms = 50.0;
  // Longest the worker holds a batch open for more requests, counted from the oldest queued
  // request's arrival. 1 ms gave the lower p99 on three of four H100 hosts probed (3.8-3.9
  // against 4.9-5.2 ms at 10,000 decodes/s at 846105e); shorter holds were worse (serving.md).
  double max_batch_wait_ms = 1.0;
  int queue_capacity = 256;
  double retry_after_s = 1.0;

  // Limits on clients.
  size_t max_body_bytes = 1 << 20;
  int64_t max_events = 65536;
  double read_timeout_ms = 5000.0;   // a request's header and body must arrive within this
  double idle_timeout_ms = 30000.0;  // keep-alive connections idle longer are closed
  double drain_timeout_ms = 30000.0;

  // Streaming cache.
  int64_t cache_page_size = 64;      // events per page
  int64_t cache_pages = 4096;
  int64_t max_streams = 1024;

  // On a GPU, replay a captured CUDA graph per batch-size and event-count bucket instead of
  // launching every op (CORTEX_CUDA_GRAPHS=0 or --cuda-graphs false: every batch eagerly).
  bool cuda_graphs = true;
  // How the worker waits for the GPU: auto (CUDA's choice, a spinning core on a typical host),
  // spin, yield or blocking (sleeps, leaving the core to the I/O threads). See cuda::HostWait.
  std::string cuda_wait = "auto";
  bool warmup = true;
  std::string log_level = "info";

  nlohmann::json to_json() const;
};

// Applies a YAML document's keys (the names of the fields above); unknown keys are an error.
void apply_yaml_file(ServerConfig& config, const std::string& path);
// Applies CORTEX_* variables from `env` (CORTEX_PORT, CORTEX_DEVICE, CORTEX_MAX_BATCH,
// CORTEX_DEADLINE_MS, CORTEX_QUEUE_CAPACITY, CORTEX_HOST, CORTEX_MODEL, CORTEX_INIT, ...).
void apply_environment(ServerConfig& config, const std::map<std::string, std::string>& env);
std::map<std::string, std::string> process_environment();

// Parses argv (flags named like the fields: --max-batch 8, --no-batching, --model F, --init N,
// --config F.yaml). Throws cortex::Error with a usage hint on a bad flag.
ServerConfig load_config(int argc, const char* const* argv, const std::map<std::string, std::string>& env);
std::string usage();

}  // namespace cortex::serve
