// GPU decode section: what one batch of the server's work costs. Cortex-S with random
// weights behind serve::CortexDecoder (the object cortex-serve runs), windows of Poisson
// events (mean 256 per window, cortex-loadgen's default; units 0..106 as in MC_Maze_Small),
// batch sizes 1..128, f32 and bf16, eager and replaying CUDA graphs (the first call of a
// bucket captures it, the median excludes it; buckets up to 128); wall time per decode() call including the host
// work, the uploads and the read-back, i.e. the compute part of a request's latency. Then one
// profiled eager batch of 64 in bf16: device time per kernel table (engine/op_profiler.h).
// The config file is read from configs/ (run from the repository root).
#ifdef CORTEX_WITH_CUDA
#include <algorithm>
#include <cstdio>
#include <memory>
#include <utility>
#include <random>
#include <string>
#include <vector>

#include "engine/op_profiler.h"
#include "section.h"
#include "serve/config.h"
#include "serve/model_loader.h"
#include "table.h"
#include "timing.h"

namespace cortex::bench {
namespace {

std::vector<serve::Window> random_windows(int64_t count, double window_ms, double mean_events, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::poisson_distribution<int> events(mean_events);
  std::uniform_int_distribution<int32_t> unit(0, 106);
  std::uniform_real_distribution<double> time(0.0, window_ms);
  std::discrete_distribution<int32_t> spikes({0.0, 0.85, 0.12, 0.03});
  std::vector<serve::Window> windows(static_cast<size_t>(count));
  for (serve::Window& w : windows) {
    const int n = std::max(1, events(rng));
    std::vector<double> times(static_cast<size_t>(n));
    for (double& t : times) t = time(rng);
    std::sort(times.begin(), times.end());
    w.end_ms = window_ms;
    w.times_ms = times;
    for (int i = 0; i < n; ++i) {
      w.units.push_back(unit(rng));
      w.counts.push_back(spikes(rng));
    }
  }
  return windows;
}

std::unique_ptr<serve::Decoder> cortex_s(const std::string& dtype, bool graphs) {
  serve::ServerConfig config;
  config.init_config = "cortex-s";
  config.device = "cuda:0";
  config.dtype = dtype;
  config.cuda_graphs = graphs;
  config.max_batch = 128;  // graph buckets up to the largest batch measured
  return serve::load_decoder(config);
}

void run(const Options& opt) {
  const std::vector<int64_t> batches =
      opt.quick ? std::vector<int64_t>{1, 64} : std::vector<int64_t>{1, 8, 32, 64, 128};
  Table table({"dtype", "CUDA graphs", "batch", "ms per decode()", "windows/s"});
  for (const auto& [dtype, graphs] : std::vector<std::pair<std::string, bool>>{
           {"f32", false}, {"f32", true}, {"bf16", false}, {"bf16", true}}) {
    auto decoder = cortex_s(dtype, graphs);
    const double window_ms = decoder->info().window_ms;
    for (int64_t b : batches) {
      const std::vector<serve::Window> windows = random_windows(b, window_ms, 256.0, 7 + static_cast<uint64_t>(b));
      std::vector<const serve::Window*> ptrs;
      for (const serve::Window& w : windows) ptrs.push_back(&w);
      const double s = median_seconds([&] { (void)decoder->decode(ptrs); }, opt.min_seconds);
      table.add({dtype, graphs ? "yes" : "no", std::to_string(b), fmt("%.2f", 1e3 * s),
                 fmt("%.0f", static_cast<double>(b) / s)});
    }
    if (dtype == "bf16" && !graphs) {  // eager, so each kernel call is seen (a replay is one launch)
      const std::vector<serve::Window> windows = random_windows(64, window_ms, 256.0, 99);
      std::vector<const serve::Window*> ptrs;
      for (const serve::Window& w : windows) ptrs.push_back(&w);
      (void)decoder->decode(ptrs);
      const bool was = profiler::enabled();
      profiler::reset();
      profiler::set_enabled(true);
      (void)decoder->decode(ptrs);
      profiler::set_enabled(was);
      std::printf("### One profiled decode() of 64 windows, Cortex-S bf16\n\n%s\n", profiler::report(25).c_str());
      profiler::reset();
    }
  }
  std::printf("### Cortex-S decode() per batch (random weights, Poisson 256 events per window)\n\n");
  table.print();
}

}  // namespace

CORTEX_BENCH_SECTION("gpu-decode", "Cortex-S serving decode() per batch size, f32 and bf16, plus a kernel profile",
                     run);

}  // namespace cortex::bench
#endif
