// cortex-train rescore: R^2 of recorded runs again from their saved held-out predictions
// (eval-protocol --predictions), smoothed at one or more widths, without retraining
// (train/prediction_rescore.h). Prints a row per run and width; --out appends the rescored
// records (one width) for results-table.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>

#include "engine/error.h"
#include "tools/cortex-train/commands.h"
#include "train/metrics_log.h"
#include "train/prediction_rescore.h"

namespace cortex::tools {
namespace {

constexpr const char* kOp = "rescore";

std::vector<double> parse_ms_list(const std::string& flag, const std::string& list) {
  std::vector<double> values;
  std::stringstream ss(list);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double v = -1;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    CORTEX_CHECK(used == item.size() && !item.empty() && std::isfinite(v) && v >= 0, kOp, flag,
                 " takes widths in ms >= 0 like 0,20,30; got '", list, "'");
    values.push_back(v);
  }
  CORTEX_CHECK(!values.empty(), kOp, flag, " needs a value");
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
  const std::vector<double> widths = parse_ms_list("--smooth-ms", widths_arg);
  CORTEX_CHECK(out_path.empty() || widths.size() == 1, kOp, "--out writes records of one width; got ", widths.size());
  CORTEX_CHECK(label.empty() || !out_path.empty(), kOp, "--label names the records that --out writes");
  const double default_bin_ms = bin_ms_arg.empty() ? 0.0 : parse_ms_list("--bin-ms", bin_ms_arg).at(0);

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

  // Rows pool each (run, protocol)'s records per seed, as results-table does.
  std::vector<std::string> order;
  std::map<std::string, std::map<double, std::map<uint64_t, train::R2Stats>>> pooled;
  std::map<std::string, std::map<uint64_t, size_t>> folds_of_seed;
  std::ofstream out;
  if (!out_path.empty()) {
    out.open(out_path, std::ios::app);
    CORTEX_CHECK(out.good(), kOp, "cannot append to '", out_path, "'");
  }
  for (const auto& record : records) {
    const std::string row = record.at("model").get<std::string>() + " " + record.at("protocol").get<std::string>();
    if (!pooled.count(row)) order.push_back(row);
    const auto seeds = record.at("seed_values").get<std::vector<uint64_t>>();
    for (uint64_t seed : seeds) folds_of_seed[row][seed] += record.at("folds_run").size();
    for (double w : widths) {
      nlohmann::json rescored = predictions.rescore(record, w);
      for (size_t i = 0; i < seeds.size(); ++i)
        pooled[row][w][seeds[i]].merge(train::r2_stats_from_json(rescored["stats_per_seed"][i]));
      if (out.is_open()) {
        if (!label.empty()) rescored["model"] = label;
        out << rescored.dump() << '\n';
      }
    }
  }
  CORTEX_CHECK(!out.is_open() || out.flush().good(), kOp, "writing '", out_path, "' failed");

  std::printf("| run | smoothing (Gaussian sigma) | R² per seed (pooled over its folds) | mean ± std |\n|---|---|---|---|\n");
  for (const auto& row : order)
    for (const auto& [w, per_seed] : pooled[row]) {
      std::string cell;
      std::vector<double> v;
      for (const auto& [seed, s] : per_seed) {
        v.push_back(s.score().mean);
        char buf[80];
        std::snprintf(buf, sizeof buf, "%s%llu: %.4f (%zu folds)", cell.empty() ? "" : ", ",
                      static_cast<unsigned long long>(seed), v.back(), folds_of_seed[row][seed]);
        cell += buf;
      }
      const train::MeanStd ms = train::mean_std(v);
      std::printf("| %s | %g ms | %s | %.4f ± %.4f |\n", row.c_str(), w, cell.c_str(), ms.mean, ms.std);
    }
  return 0;
}

}  // namespace cortex::tools
