#pragma once
// JSON-lines metrics of a run: one object per line, flushed as written so a crashed or
// killed run keeps everything up to its last record.
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace cortex::train {

class MetricsLog {
 public:
  // Opens `path` for appending (a resumed run continues the same file); throws a
  // cortex::Error naming the path when it cannot be opened.
  explicit MetricsLog(const std::string& path);
  // Writes `record` as one line; non-finite numbers are written as null (JSON has no NaN).
  void write(const nlohmann::json& record);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::ofstream out_;
};

// Every line of a metrics file parsed; throws naming the path and line on bad JSON.
std::vector<nlohmann::json> read_metrics(const std::string& path);

// Appends `records` (a line each) to `path` in one write, after a newline if the file's last
// line lacks one; a write that fails part-way is cut back off. Other appenders (O_APPEND) and
// links keep working, since the file is never replaced.
void append_records(const std::string& path, const std::vector<nlohmann::json>& records);

}  // namespace cortex::train
