#include "train/seed_pool.h"

#include <set>
#include <utility>
#include <vector>

#include "engine/error.h"
#include "train/evaluation_protocol.h"

namespace cortex::train {

void SeedPool::add(const nlohmann::json& record) {
  // Everything is parsed and checked before anything is added, so a refused record leaves the
  // pool as it was.
  std::vector<uint64_t> seeds;
  std::vector<int64_t> folds;
  std::vector<R2Stats> stats;
  try {
    seeds = record.at("seed_values").get<std::vector<uint64_t>>();
    folds = record.at("folds_run").get<std::vector<int64_t>>();
    CORTEX_CHECK(record.at("stats_per_seed").size() == seeds.size(), "SeedPool", run_, ": ", seeds.size(),
                 " seeds but ", record.at("stats_per_seed").size(), " statistics in one record");
  } catch (const nlohmann::json::exception& e) {
    CORTEX_FAIL("SeedPool", run_, ": malformed eval-protocol record (", e.what(), ")");
  }
  for (size_t i = 0; i < seeds.size(); ++i) stats.push_back(r2_stats_from_json(record["stats_per_seed"][i]));
  std::set<std::pair<uint64_t, int64_t>> parts;
  for (size_t i = 0; i < seeds.size(); ++i) {
    const auto known = stats_.find(seeds[i]);
    CORTEX_CHECK(known == stats_.end() || known->second.sum.empty() || known->second.sum.size() == stats[i].sum.size(),
                 "SeedPool", run_, " seed ", seeds[i], ": ", stats[i].sum.size(), " components, earlier records ",
                 known == stats_.end() ? 0 : known->second.sum.size());
    for (int64_t f : folds) {
      const auto known_folds = folds_.find(seeds[i]);
      CORTEX_CHECK(parts.insert({seeds[i], f}).second &&
                       (known_folds == folds_.end() || !known_folds->second.count(f)),
                   "SeedPool", run_, " seed ", seeds[i], " fold ", f, " appears twice (the same part in two records?)");
    }
  }
  for (size_t i = 0; i < seeds.size(); ++i) {
    folds_[seeds[i]].insert(folds.begin(), folds.end());
    stats_[seeds[i]].merge(stats[i]);
  }
}

}  // namespace cortex::train
