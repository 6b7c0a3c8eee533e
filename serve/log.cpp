#include "serve/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>

#include "engine/error.h"

namespace cortex::serve {

namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::info)};
std::mutex g_write;
const char* level_name(LogLevel l) {
  switch (l) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
  }
  return "info";
}
}  // namespace

void set_log_level(const std::string& level) {
  for (LogLevel l : {LogLevel::debug, LogLevel::info, LogLevel::warn, LogLevel::error}) {
    if (level == level_name(l)) {
      g_level = static_cast<int>(l);
      return;
    }
  }
  CORTEX_FAIL("cortex-serve", "unknown log level '", level, "' (expected debug, info, warn or error)");
}

void log(LogLevel level, const std::string& event, nlohmann::json fields) {
  if (static_cast<int>(level) < g_level.load()) return;
  const double ts =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  nlohmann::json line = {{"ts", ts}, {"level", level_name(level)}, {"event", event}};
  if (fields.is_object()) {
    for (auto it = fields.begin(); it != fields.end(); ++it) line[it.key()] = it.value();
  }
  // Replacement of invalid UTF-8 keeps a client's junk from breaking the log line.
  const std::string text = line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  std::lock_guard<std::mutex> lock(g_write);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace cortex::serve
