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

// Appends `records` (a line each) to `path` in one step: the old content and the new lines
// go to a temporary file beside it, which then replaces it. On any failure `path` is left
// as it was and no temporary file remains.
void append_records_atomically(const std::string& path, const std::vector<nlohmann::json>& records);

}  // namespace cortex::train
