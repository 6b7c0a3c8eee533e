// cortex-serve: serves a Cortex checkpoint (or randomly initialised weights) over HTTP and
// WebSocket. See docs/serving.md.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "serve/config.h"
#include "serve/log.h"
#include "serve/model_loader.h"
#include "serve/server.h"
#include "serve/thread_setup.h"

int main(int argc, char** argv) {
  using namespace cortex::serve;
  // OpenMP threads that spin between the model's many small parallel regions starve the I/O
  // thread and everything else on a small or shared CPU (3.5x slower decodes measured on the
  // 2-core dev machine). libgomp reads the policy when it loads, so the process restarts
  // itself once with a passive policy unless the caller chose one.
  if (!std::getenv("OMP_WAIT_POLICY")) {
    setenv("OMP_WAIT_POLICY", "passive", 1);
    execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
  }
  // The re-exec names the process "exe" (ps, top, pgrep read it); threads started from here on
  // inherit the name unless they set their own.
  name_this_thread("cortex-serve");
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--help") || !std::strcmp(argv[i], "-h")) {
      std::fputs(usage().c_str(), stdout);
      return 0;
    }
  }
  ServerConfig config;
  try {
    config = load_config(argc, argv, process_environment());
    if (config.model_path.empty() && config.init_config.empty()) {
      std::fprintf(stderr,
                   "cortex-serve: nothing to serve. Pass --model FILE.safetensors (a checkpoint from cortex-train) "
                   "or --init CONFIG (random weights, e.g. --init cortex-xs).\n%s",
                   usage().c_str());
      return 2;
    }
    if (!config.model_path.empty() && !config.init_config.empty()) {
      std::fprintf(stderr, "cortex-serve: pass either --model or --init, not both.\n");
      return 2;
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "cortex-serve: %s\n", e.what());
    return 2;
  }
  try {
    Server server(config, [config] { return load_decoder(config); });
    return server.run();
  } catch (const std::exception& e) {
    log(LogLevel::error, "fatal", {{"error", e.what()}});
    return 1;
  }
}
