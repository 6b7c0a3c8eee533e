// cortex-train: trains Cortex and the baselines, runs the decoding protocol, prints model
// sizes and benchmarks a training step. `cortex-train --help` lists the commands.
#include <cstdio>
#include <cstring>
#include <exception>

#include "engine/error.h"
#include "tools/cortex-train/commands.h"

namespace cortex::tools {

void usage(std::FILE* out) {
  std::fputs(
      "usage:\n"
      "  cortex-train [--config FILE] [key=value ...]     train (pre-training, then fine-tuning)\n"
      "      e.g. cortex-train --config configs/cortex-xs.yaml train.steps=200 optim.lr=3e-4 data=synthetic device=cpu\n"
      "      model keys are overridden as model.<key>=value; run.resume=latest continues a run\n"
      "  cortex-train --print-params                       parameter count of every model size\n"
      "  cortex-train --print-config [--config FILE] [key=value ...]\n"
      "                                                    the resolved configuration with every trainer key\n"
      "  cortex-train eval-protocol --model NAME --protocol causal|noncausal [--seeds N] [--folds 0,1,..]\n"
      "                             [--out FILE.jsonl] [--label NAME] [--keep-runs DIR] [--predictions FILE.jsonl]\n"
      "                             [key=value ...]\n"
      "                                                    5-fold decoding protocol; prints the results row\n"
      "  cortex-train bench-step --config FILE [--batch B] [--events E] [--device D] [--dtype T] [--steps N]\n"
      "                                                    time training steps on synthetic events\n"
      "  cortex-train results-table FILE.jsonl ...         the decoding table from eval-protocol --out files\n"
      "  cortex-train rescore --smooth-ms MS[,MS..] RECORDS.jsonl PREDICTIONS.jsonl ... [--out FILE.jsonl]\n"
      "                                                    R^2 of recorded runs from their saved predictions, smoothed\n",
      out);
}

}  // namespace cortex::tools

int main(int argc, char** argv) {
  using namespace cortex::tools;
  Args args(argv + 1, argv + argc);
  try {
    if (!args.empty() && (args[0] == "--help" || args[0] == "-h" || args[0] == "help")) {
      usage(stdout);
      return 0;
    }
    if (!args.empty() && args[0] == "--print-params") return print_params_command(Args(args.begin() + 1, args.end()));
    if (!args.empty() && args[0] == "--print-config") return print_config_command(Args(args.begin() + 1, args.end()));
    if (!args.empty() && args[0] == "eval-protocol") return eval_protocol_command(Args(args.begin() + 1, args.end()));
    if (!args.empty() && args[0] == "bench-step") return bench_step_command(Args(args.begin() + 1, args.end()));
    if (!args.empty() && args[0] == "results-table") return results_table_command(Args(args.begin() + 1, args.end()));
    if (!args.empty() && args[0] == "rescore") return rescore_command(Args(args.begin() + 1, args.end()));
    if (!args.empty() && args[0] == "train") return train_command(Args(args.begin() + 1, args.end()));
    return train_command(args);
  } catch (const cortex::Error& e) {
    std::fprintf(stderr, "cortex-train: error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cortex-train: error: %s\n", e.what());
    return 2;
  }
}
