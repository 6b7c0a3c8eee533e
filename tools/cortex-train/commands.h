#pragma once
// The subcommands of cortex-train; each takes the arguments after its name and returns
// the process exit code. Errors are thrown as cortex::Error and reported by main.
#include <cstdio>
#include <string>
#include <vector>

namespace cortex::tools {

using Args = std::vector<std::string>;

int train_command(const Args& args);          // cortex-train [--config FILE] [key=value ...]
int print_params_command(const Args& args);   // cortex-train --print-params
int print_config_command(const Args& args);   // cortex-train --print-config [--config FILE] [key=value ...]
int eval_protocol_command(const Args& args);  // cortex-train eval-protocol --model NAME --protocol P --seeds N
int bench_step_command(const Args& args);     // cortex-train bench-step --config FILE --batch B --events E ...
int results_table_command(const Args& args);  // cortex-train results-table FILE.jsonl ...
int rescore_command(const Args& args);        // cortex-train rescore --smooth-ms MS,.. RECORDS PREDICTIONS ...

void usage(std::FILE* out);

}  // namespace cortex::tools
