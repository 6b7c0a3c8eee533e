#include "train/seed_pool.h"

#include <set>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "train/evaluation_protocol.h"

namespace cortex::train {

void SeedPool::add(const nlohmann::json& record) {
  std::vector<uint64_t> seeds;
  std::vector<int64_t> folds;
  try {
    seeds = record.at("seed_values").get<std::vector<uint64_t>>();
    folds = record.at("folds_run").get<std::vector<int64_t>>();
    CORTEX_CHECK(record.at("stats_per_seed").size() == seeds.size(), "SeedPool", run_, ": ", seeds.size(),
                 " seeds but ", record.at("stats_per_seed").size(), " statistics in one record");
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL("SeedPool", run_, ": malformed eval-protocol record (", e.what(), ")");
  }
  // Checked before anything is added, so a refused record leaves the pool as it was.
  std::set<std::pair<uint64_t, int64_t>> parts;
  for (uint64_t seed : seeds)
    for (int64_t f : folds) {
      const auto known = folds_.find(seed);
      CORTEX_CHECK(parts.insert({seed, f}).second && (known == folds_.end() || !known->second.count(f)), "SeedPool",
                   run_, " seed ", seed, " fold ", f, " appears twice (the same part in two records?)");
    }
  for (size_t i = 0; i < seeds.size(); ++i) {
    folds_[seeds[i]].insert(folds.begin(), folds.end());
    stats_[seeds[i]].merge(r2_stats_from_json(record["stats_per_seed"][i]));
  }
}

}  // namespace cortex::train
