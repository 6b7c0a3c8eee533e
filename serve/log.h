#pragma once
// Structured logs: one JSON object per line on stderr, {"ts", "level", "event", ...fields}.
#include <string>

#include <nlohmann/json.hpp>

namespace cortex::serve {

enum class LogLevel { debug = 0, info = 1, warn = 2, error = 3 };

void set_log_level(const std::string& level);  // "debug", "info", "warn", "error"
void log(LogLevel level, const std::string& event, nlohmann::json fields = nlohmann::json::object());

}  // namespace cortex::serve
