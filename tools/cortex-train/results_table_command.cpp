#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <sstream>

#include "engine/error.h"
#include "tools/cortex-train/commands.h"
#include "train/evaluation_metrics.h"
#include "train/evaluation_protocol.h"
#include "train/metrics_log.h"
#include "train/seed_pool.h"

namespace cortex::tools {
namespace {

// One (model, protocol) pooled over result lines: each seed's R^2 statistics summed over
// the folds that different lines (processes) ran.
struct Merged {
  std::optional<train::SeedPool> seeds;
  int64_t num_folds = 5;
  double train_seconds = 0;
  int64_t parameters = 0;
  std::string device, recipe;
};

std::string smoothing_of(const nlohmann::json& r) {
  const double sigma = r.value("smooth_ms", 0.0);
  if (sigma <= 0) return "";
  std::ostringstream os;
  os << ", predictions smoothed (Gaussian sigma " << sigma << " ms)";
  return os.str();
}

std::string recipe_of(const nlohmann::json& r) {
  if (r.value("family", "") == "wiener") return "closed form" + smoothing_of(r);
  std::ostringstream os;
  os << r.value("pretrain_steps", int64_t{0}) << " pre-training + " << r.value("finetune_steps", int64_t{0})
     << " fine-tuning steps, batch " << r.value("batch_size", int64_t{0});
  if (const int64_t b = r.value("pretrain_batch_size", int64_t{0}); b > 0 && b != r.value("batch_size", int64_t{0}))
    os << " (pre-training " << b << ")";
  // Older records lack these keys; they are shown only where recorded.
  if (r.contains("lr")) os << ", lr " << r.value("lr", 0.0) << ", weight decay " << r.value("weight_decay", 0.0);
  if (const double p = r.value("spike_dropout", 0.0); p > 0) os << ", spike dropout " << p;
  if (const double d = r.value("ema_decay", 0.0); d > 0) os << ", weights averaged (decay " << d << ")";
  if (const double p = r.value("drop_path", 0.0); p > 0) os << ", drop path " << p;
  if (const int64_t crop = r.value("crop_min_bins", int64_t{0}); crop > 0) os << ", random crops of >= " << crop << " bins";
  if (const double jitter = r.value("window_jitter_ms", 0.0); jitter > 0) os << ", window jitter +-" << jitter << " ms";
  if (r.value("centred_windows", false)) os << ", a window centred on each bin";
  os << smoothing_of(r);
  return os.str();
}

std::string r2_cell(const std::string& what, const Merged& m) {
  std::vector<double> v;
  for (const auto& [seed, s] : m.seeds->stats()) {
    const size_t folds = m.seeds->folds().at(seed).size();
    CORTEX_CHECK(static_cast<int64_t>(folds) == m.num_folds, "results-table", what, " seed ", seed,
                 " has results for ", folds, " of ", m.num_folds, " folds");
    v.push_back(s.score().mean);
  }
  const train::MeanStd ms = train::mean_std(v);
  char buf[64];
  if (ms.n > 1) std::snprintf(buf, sizeof buf, "%.3f ± %.3f (%lld seeds)", ms.mean, ms.std, static_cast<long long>(ms.n));
  else std::snprintf(buf, sizeof buf, "%.3f", ms.mean);
  return buf;
}

}  // namespace

// Reads eval-protocol results (JSON lines) and prints the decoding table: one row per model
// with its causal and non-causal results side by side.
int results_table_command(const Args& args) {
  CORTEX_CHECK(!args.empty(), "results-table", "usage: cortex-train results-table FILE.jsonl [FILE.jsonl ...]");
  std::vector<std::string> order;
  std::map<std::string, std::map<std::string, Merged>> rows;
  for (const auto& file : args)
    for (const auto& r : train::read_metrics(file)) {
      CORTEX_CHECK(r.contains("model") && r.contains("protocol") && r.contains("stats_per_seed") &&
                       r.contains("seed_values") && r.contains("folds_run"),
                   "results-table", file, " holds a line that is not an eval-protocol result: ", r.dump());
      const std::string model = r["model"].get<std::string>();
      const std::string protocol = r["protocol"].get<std::string>();
      if (!rows.count(model)) order.push_back(model);
      Merged& m = rows[model][protocol];
      const std::string recipe = recipe_of(r);
      CORTEX_CHECK(m.recipe.empty() || m.recipe == recipe, "results-table", model, " ", protocol,
                   " results come from different recipes (", m.recipe, " and ", recipe, ")");
      m.recipe = recipe;
      m.num_folds = r.value("folds", int64_t{5});
      if (!m.seeds) m.seeds.emplace(model + " " + protocol);
      m.seeds->add(r);
      m.train_seconds += r["train_seconds"].get<double>();
      m.parameters = r["parameters"].get<int64_t>();
      const std::string d = r["device"].get<std::string>() + " " + r["dtype"].get<std::string>();
      if (m.device.find(d) == std::string::npos) m.device += (m.device.empty() ? "" : ", ") + d;
    }
  std::printf("| model | params | R² causal | R² non-causal | training time (causal / non-causal) | device | recipe |\n");
  std::printf("|---|---|---|---|---|---|---|\n");
  for (const auto& model : order) {
    const auto& by = rows[model];
    const Merged* c = by.count("causal") ? &by.at("causal") : nullptr;
    const Merged* n = by.count("noncausal") ? &by.at("noncausal") : nullptr;
    std::ostringstream params, device;
    if (c && n && c->parameters != n->parameters) params << c->parameters << " / " << n->parameters;
    else params << (c ? c : n)->parameters;
    for (const Merged* m : {c, n})
      if (m && device.str().find(m->device) == std::string::npos)
        device << (device.str().empty() ? "" : ", ") << m->device;
    std::string recipe = (c ? c : n)->recipe;
    if (c && n && c->recipe != n->recipe) recipe = c->recipe + " / " + n->recipe;
    auto secs = [](const Merged* m) {
      return m ? std::to_string(static_cast<long long>(m->train_seconds + 0.5)) + " s" : std::string("-");
    };
    std::printf("| %s | %s | %s | %s | %s / %s | %s | %s |\n", model.c_str(), params.str().c_str(),
                c ? r2_cell(model + " causal", *c).c_str() : "not run",
                n ? r2_cell(model + " noncausal", *n).c_str() : "not run", secs(c).c_str(), secs(n).c_str(),
                device.str().c_str(), recipe.c_str());
  }
  return 0;
}

}  // namespace cortex::tools
