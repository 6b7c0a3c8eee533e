// cortex-train rescore: R^2 of recorded runs again from their saved held-out predictions
// (eval-protocol --predictions), smoothed at one or more widths, without retraining
// (train/prediction_rescore.h). Prints a row per run and width; --out appends the rescored
// records (one width) for results-table.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "engine/error.h"
#include "tools/cortex-train/commands.h"
#include "tools/cortex-train/config_args.h"
#include "train/metrics_log.h"
#include "train/prediction_rescore.h"
#include "train/seed_pool.h"

namespace cortex::tools {
namespace {

constexpr const char* kOp = "rescore";
constexpr double kMaxWidthMs = 1e4;  // as predict.smooth_ms

// "0,20,30": every item a number in [min, kMaxWidthMs]; empty items (",," or a trailing comma) are refused.
std::vector<double> parse_ms_list(const std::string& flag, const std::string& list, double min) {
  std::vector<double> values;
  for (const std::string& item : split_list(list)) {
    size_t used = 0;
    double v = -1;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    CORTEX_CHECK(!item.empty() && used == item.size() && std::isfinite(v) && v >= min && v <= kMaxWidthMs, kOp, flag,
                 " takes values in ms from ", min, " to ", kMaxWidthMs, " separated by commas; got '", list, "'");
    CORTEX_CHECK(std::find(values.begin(), values.end(), v) == values.end(), kOp, flag, " gives ", v, " twice");
    values.push_back(v);
  }
  return values;
}

}  // namespace

int rescore_command(const Args& args) {
  std::vector<std::string> files;
  std::string widths_arg, out_path, label, bin_ms_arg;
  for (size_t i = 0; i < args.size(); ++i) {
    auto value = [&](const char* flag) {
      CORTEX_CHECK(i + 1 < args.size(), kOp, flag, " needs a value");
      return args[++i];
    };
    if (args[i] == "--smooth-ms") widths_arg = value("--smooth-ms");
    else if (args[i] == "--out") out_path = value("--out");
    else if (args[i] == "--label") label = value("--label");
    else if (args[i] == "--bin-ms") bin_ms_arg = value("--bin-ms");
    else files.push_back(args[i]);
  }
  CORTEX_CHECK(!widths_arg.empty() && !files.empty(), kOp,
               "usage: cortex-train rescore --smooth-ms MS[,MS..] FILE.jsonl ... [--out FILE.jsonl [--label NAME]] "
               "[--bin-ms MS]\n"
               "  FILEs: eval-protocol --out records and the --predictions files of the same runs; --bin-ms: the bin "
               "width of prediction lines that do not state it");
  const std::vector<double> widths = parse_ms_list("--smooth-ms", widths_arg, 0.0);
  CORTEX_CHECK(out_path.empty() || widths.size() == 1, kOp, "--out writes records of one width; got ", widths.size());
  CORTEX_CHECK(label.empty() || !out_path.empty(), kOp, "--label names the records that --out writes");
  double default_bin_ms = 0;
  if (!bin_ms_arg.empty()) {
    const std::vector<double> bin_ms = parse_ms_list("--bin-ms", bin_ms_arg, 1e-3);
    CORTEX_CHECK(bin_ms.size() == 1, kOp, "--bin-ms takes one width; got '", bin_ms_arg, "'");
    default_bin_ms = bin_ms.front();
  }

  std::vector<nlohmann::json> records;
  train::SavedPredictions predictions;
  for (const auto& file : files)
    for (const auto& line : train::read_metrics(file)) {
      if (line.contains("stats_per_seed")) {
        records.push_back(line);
      } else {
        CORTEX_CHECK(line.contains("prediction"), kOp, file,
                     " holds a line that is neither an eval-protocol record nor a prediction: ", line.dump().substr(0, 160));
        predictions.add(line, default_bin_ms);
      }
    }
  CORTEX_CHECK(!records.empty(), kOp, "no eval-protocol records among the files");

  // Everything is rescored and pooled (as results-table pools, refusing a part given twice)
  // before --out is touched.
  std::vector<std::string> order;
  std::map<std::string, std::map<double, train::SeedPool>> pooled;
  std::vector<nlohmann::json> out_records;
  for (const auto& record : records) {
    const std::string row = record.at("model").get<std::string>() + " " + record.at("protocol").get<std::string>();
    if (!pooled.count(row)) order.push_back(row);
    for (double w : widths) {
      nlohmann::json rescored = predictions.rescore(record, w);
      pooled[row].try_emplace(w, row).first->second.add(rescored);
      if (!label.empty()) rescored["model"] = label;
      out_records.push_back(std::move(rescored));
    }
  }
  // One label for records of several runs would pool them as one in results-table.
  CORTEX_CHECK(label.empty() || order.size() == 1, kOp, "--label renames the records of one run; these are ", order.size(),
               " runs");
  if (!out_path.empty()) train::append_records(out_path, out_records);

  std::printf("| run | smoothing (Gaussian sigma) | R² per seed (pooled over its folds) | mean ± std |\n|---|---|---|---|\n");
  for (const auto& row : order)
    for (const auto& [w, pool] : pooled[row]) {
      std::string cell;
      std::vector<double> v;
      for (const auto& [seed, s] : pool.stats()) {
        v.push_back(s.score().mean);
        char buf[80];
        std::snprintf(buf, sizeof buf, "%s%llu: %.4f (%zu folds)", cell.empty() ? "" : ", ",
                      static_cast<unsigned long long>(seed), v.back(), pool.folds().at(seed).size());
        cell += buf;
      }
      const train::MeanStd ms = train::mean_std(v);
      std::printf("| %s | %g ms | %s | %.4f ± %.4f |\n", row.c_str(), w, cell.c_str(), ms.mean, ms.std);
    }
  return 0;
}

}  // namespace cortex::tools
