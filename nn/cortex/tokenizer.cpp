#include "nn/cortex/tokenizer.h"

#include <algorithm>
#include <cmath>
#include <tuple>

#include "engine/factory.h"

namespace cortex::nn {

SpikeTokenizer::SpikeTokenizer(const CortexConfig& config, Generator* gen, DType dtype, Device device)
    : max_count_(config.max_count), bin_ms_(config.bin_ms), bins_(config.bins_per_window()) {
  unit = register_module("unit", std::make_shared<Embedding>(config.unit_vocab, config.dim, gen, dtype, device));
  count = register_module("count", std::make_shared<Embedding>(config.max_count, config.dim, gen, dtype, device));
  if (config.time_bin_embedding)
    time_bin = register_module("time_bin", std::make_shared<Embedding>(bins_, config.dim, gen, dtype, device));
}

std::pair<int64_t, int64_t> SpikeTokenizer::rows_of(const SpikeEvents& events, int64_t i) const {
  constexpr const char* op = "SpikeTokenizer";
  const size_t e = static_cast<size_t>(i);
  const int64_t vocab = unit->num_embeddings();
  CORTEX_CHECK(events.unit[e] >= 0 && events.unit[e] < vocab, op, "event ", i, " has unit id ", events.unit[e],
               ", outside the vocabulary [0, ", vocab, ")");
  CORTEX_CHECK(events.count[e] >= 1, op, "event ", i, " has count ", events.count[e], "; events carry >= 1 spike");
  CORTEX_CHECK(std::isfinite(events.time_ms[e]), op, "event ", i, " has a non-finite time");
  return {events.unit[e], std::min<int64_t>(events.count[e], max_count_) - 1};
}

EventIndices SpikeTokenizer::indices(const SpikeEvents& events, const std::vector<double>* window_start_ms,
                                     Device device) const {
  constexpr const char* op = "SpikeTokenizer";
  events.check_lengths(op);
  const int64_t n = events.size();
  std::vector<int64_t> units(static_cast<size_t>(n)), counts(static_cast<size_t>(n)), bins;
  for (int64_t i = 0; i < n; ++i) std::tie(units[i], counts[i]) = rows_of(events, i);
  EventIndices out{from_vector(units, {n}, device), from_vector(counts, {n}, device), Tensor()};
  if (!has_time_bins()) return out;
  CORTEX_CHECK(window_start_ms != nullptr && static_cast<int64_t>(window_start_ms->size()) == n, op,
               "the time-bin embedding needs each event's window start (", n, " events)");
  bins.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    const size_t e = static_cast<size_t>(i);
    const double rel = events.time_ms[e] - (*window_start_ms)[e];
    const int64_t bin = static_cast<int64_t>(std::floor(rel / bin_ms_));
    CORTEX_CHECK(bin >= 0 && bin < bins_, op, "event ", i, " at ", events.time_ms[e], " ms lies outside its window [",
                 (*window_start_ms)[e], ", ", (*window_start_ms)[e] + bin_ms_ * static_cast<double>(bins_), ") ms");
    bins[e] = bin;
  }
  out.bin = from_vector(bins, {n}, device);
  return out;
}

}  // namespace cortex::nn
