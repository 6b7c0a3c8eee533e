#pragma once
// Tiny Cortex configs and synthetic spike batches for the model tests.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "nn/cortex/spike_batch.h"
#include "nn/model_config.h"

namespace cortex::test {

inline nn::CortexConfig tiny_cortex_config() {
  nn::CortexConfig c;
  c.name = "tiny";
  c.dim = 16;
  c.depth = 2;
  c.heads = 2;
  c.latents = 6;
  c.ffn_mult = 2;
  c.unit_vocab = 20;
  c.max_count = 4;
  c.window_ms = 100.0;
  c.bin_ms = 10.0;
  c.rotary_min_period_ms = 2.0;
  c.rotary_max_period_ms = 400.0;
  return c;
}

// Poisson-ish random events of `units` units in [start, start + window), sorted by time.
inline nn::SpikeEvents random_events(std::mt19937_64& rng, double start, double window, int64_t n, int32_t units,
                                     int32_t max_count = 3) {
  std::uniform_real_distribution<double> t(start, start + window);
  std::uniform_int_distribution<int32_t> u(0, units - 1), c(1, max_count);
  std::vector<double> times(static_cast<size_t>(n));
  for (double& x : times) x = t(rng);
  std::sort(times.begin(), times.end());
  nn::SpikeEvents ev;
  for (double x : times) ev.push_back(u(rng), c(rng), x);
  return ev;
}

// Samples with different event counts (one empty), windows at arbitrary absolute times.
inline nn::CortexInput random_input(const nn::CortexConfig& c, uint64_t seed, const std::vector<int64_t>& sizes) {
  std::mt19937_64 rng(seed);
  nn::CortexInput in;
  double start = 12345.5;
  for (int64_t n : sizes) {
    in.add_sample(random_events(rng, start, c.window_ms, n, static_cast<int32_t>(c.unit_vocab)), start);
    start += 731.25;
  }
  return in;
}

inline nn::BehaviourQueries queries_at_ends(const nn::CortexInput& in, const nn::CortexConfig& c,
                                            const std::vector<int64_t>& per_sample) {
  nn::BehaviourQueries q;
  for (int64_t b = 0; b < in.samples(); ++b) {
    std::vector<double> times;
    for (int64_t i = 0; i < per_sample[static_cast<size_t>(b)]; ++i)
      times.push_back(in.window_start_ms[static_cast<size_t>(b)] + c.window_ms - 1.0 - 7.0 * static_cast<double>(i));
    q.add_sample(times);
  }
  return q;
}

}  // namespace cortex::test

namespace cortex::test {

// A decodable toy task: velocity (vx, vy) in [-1, 1]^2 drives four groups of five units
// (rates grow with +vx, -vx, +vy, -vy); the target is the velocity at the window's end.
struct ToyBatch {
  nn::CortexInput input;
  nn::BehaviourQueries queries;
  std::vector<float> target;  // [samples, 2] row-major
};

inline ToyBatch toy_batch(const nn::CortexConfig& c, int64_t samples, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> uni(-1.0, 1.0), t01(0.0, 1.0);
  ToyBatch batch;
  for (int64_t b = 0; b < samples; ++b) {
    const double vx = uni(rng), vy = uni(rng), start = 1000.0 * static_cast<double>(b) + 250.0 * t01(rng);
    const double drive[4] = {1 + vx, 1 - vx, 1 + vy, 1 - vy};
    nn::SpikeEvents ev;
    for (double t = start; t < start + c.window_ms; t += 5.0)
      for (int32_t u = 0; u < 20; ++u)
        if (t01(rng) < 0.15 * drive[u / 5])
          ev.push_back(u, 1 + static_cast<int32_t>(t01(rng) < 0.2), t + 4.0 * t01(rng));
    std::vector<double> times = ev.time_ms;
    std::vector<size_t> order(times.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b2) { return times[a] < times[b2]; });
    nn::SpikeEvents sorted;
    for (size_t i : order) sorted.push_back(ev.unit[i], ev.count[i], ev.time_ms[i]);
    batch.input.add_sample(sorted, start);
    batch.queries.add_sample({start + c.window_ms - 2.5});
    batch.target.push_back(static_cast<float>(vx));
    batch.target.push_back(static_cast<float>(vy));
  }
  return batch;
}

}  // namespace cortex::test
