#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>

#include "engine/error.h"
#include "tools/cortex-train/commands.h"
#include "tools/cortex-train/config_args.h"
#include "train/evaluation_protocol.h"
#include "train/prediction_rescore.h"

namespace cortex::tools {

int eval_protocol_command(const Args& raw_args) {
  // --model NAME is the model's config (configs/NAME.yaml): the same as --config NAME.
  Args args;
  bool has_model = false;
  for (size_t i = 0; i < raw_args.size(); ++i) {
    const std::string& a = raw_args[i];
    CORTEX_CHECK(a != "--config" && a.rfind("--config=", 0) != 0, "eval-protocol",
                 "use --model NAME (a config name or file) instead of --config");
    if (a == "--model" || a.rfind("--model=", 0) == 0) {
      has_model = true;
      args.push_back("--config");
      if (a == "--model") {
        CORTEX_CHECK(i + 1 < raw_args.size(), "eval-protocol", "--model needs a value");
        args.push_back(raw_args[++i]);
      } else {
        args.push_back(a.substr(8));
      }
    } else {
      args.push_back(a);
    }
  }
  CORTEX_CHECK(has_model, "eval-protocol",
               "--model NAME is required (cortex-xs, cortex-s, gru, transformer, wiener, or a config file)");
  std::map<std::string, std::string> flags;
  train::TrainerConfig merged = parse_config_args(args, {"--protocol", "--seeds", "--folds", "--out", "--keep-runs", "--label", "--predictions"}, &flags);
  CORTEX_CHECK(flags.count("--protocol"), "eval-protocol", "--protocol causal|noncausal is required");
  // The protocol is defined on MC_Maze_Small; data=... still selects another source.
  bool data_given = false;
  for (const auto& a : args) data_given = data_given || a.rfind("data=", 0) == 0;
  if (!data_given) merged.set("data", "mc_maze_small");

  train::ProtocolOptions options;
  options.protocol = train::protocol_from_name(flags["--protocol"]);
  int64_t seeds = 3;
  if (flags.count("--seeds")) {
    try {
      seeds = std::stoll(flags["--seeds"]);
    } catch (const std::exception&) {
      CORTEX_FAIL("eval-protocol", "--seeds must be a positive integer, got '", flags["--seeds"], "'");
    }
    CORTEX_CHECK(seeds >= 1 && seeds <= 100, "eval-protocol", "--seeds must lie in [1, 100], got ", seeds);
  }
  const bool closed_form = merged.model()["model"] && merged.model()["model"].as<std::string>() == "wiener";
  if (closed_form && seeds > 1) {
    std::fprintf(stderr, "wiener is fitted in closed form (no seed dependence): one run instead of %lld seeds\n",
                 static_cast<long long>(seeds));
    seeds = 1;
  }
  options.seeds.clear();
  const uint64_t base = static_cast<uint64_t>(merged.get_int("seed"));
  for (int64_t s = 0; s < seeds; ++s) options.seeds.push_back(base + static_cast<uint64_t>(s));
  if (flags.count("--keep-runs")) options.run_root = flags["--keep-runs"];
  if (flags.count("--folds")) {
    // "0,2,4": a part of the protocol for one process; results-table pools the parts.
    const std::string& list = flags["--folds"];
    for (const std::string& item : split_list(list)) {
      size_t used = 0;
      int64_t fold = -1;
      try {
        fold = std::stoll(item, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      CORTEX_CHECK(used == item.size() && !item.empty(), "eval-protocol", "--folds takes fold numbers like 0,1,4; got '",
                   list, "'");
      options.only_folds.push_back(fold);
    }
  }
  options.log = stderr;
  // A label tells recipes of one model apart in the results table ("cortex-xs+pretrain").
  if (flags.count("--label")) options.label = flags["--label"];

  const train::DecodingData data = train::load_decoding_data(merged);
  // --predictions FILE: one JSON line per held-out trial (the raw prediction, also under
  // predict.smooth_ms, and the target, in data units), appended as each fold finishes, for
  // analyses that R^2 alone does not answer (cortex-train rescore).
  std::ofstream predictions_out;
  if (flags.count("--predictions")) {
    predictions_out.open(flags["--predictions"], std::ios::app);
    CORTEX_CHECK(predictions_out.good(), "eval-protocol", "cannot append to '", flags["--predictions"], "'");
    options.on_predictions = [&predictions_out, &data, path = flags["--predictions"]](const train::FoldPredictions& p) {
      for (size_t i = 0; i < p.trials.size(); ++i) predictions_out << train::prediction_line(p, i, data).dump() << '\n';
      predictions_out.flush();
      CORTEX_CHECK(predictions_out.good(), "eval-protocol", "writing '", path, "' failed");
    };
  }
  std::fprintf(stderr, "data: %s\n", data.description.c_str());
  print_config_notes(merged, stderr);
  const train::ProtocolResult r = train::run_protocol(merged, data, options);
  const nlohmann::json j = r.to_json();
  if (flags.count("--out")) {
    std::ofstream out(flags["--out"], std::ios::app);
    CORTEX_CHECK(out.good(), "eval-protocol", "cannot append to '", flags["--out"], "'");
    out << j.dump() << '\n';
  }
  // The results row: | model | params | R^2 (protocol) | training time | device |
  char r2[64];
  if (r.r2.n > 1) std::snprintf(r2, sizeof r2, "%.3f ± %.3f", r.r2.mean, r.r2.std);
  else std::snprintf(r2, sizeof r2, "%.3f", r.r2.mean);
  const bool partial = static_cast<int64_t>(r.folds_run.size()) != options.folds;
  std::printf("| %s | %lld | %s R^2 %s%s | %.1f s train (%lld seed(s) x %zu folds) | %s %s |\n", r.model.c_str(),
              static_cast<long long>(r.parameters), train::protocol_name(r.protocol), r2,
              partial ? " (these folds only; pool the parts with results-table)" : "", r.train_seconds,
              static_cast<long long>(seeds), r.folds_run.size(), r.device.c_str(), r.dtype.c_str());
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

}  // namespace cortex::tools
