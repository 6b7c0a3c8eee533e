#include "train/metrics_log.h"

#include <cmath>
#include <filesystem>
#include <iterator>

#include "engine/error.h"

namespace cortex::train {
namespace {

nlohmann::json sanitise(const nlohmann::json& j) {
  if (j.is_number_float()) {
    const double v = j.get<double>();
    return std::isfinite(v) ? j : nlohmann::json(nullptr);
  }
  if (j.is_object() || j.is_array()) {
    nlohmann::json out = j;
    for (auto& item : out) item = sanitise(item);
    return out;
  }
  return j;
}

}  // namespace

MetricsLog::MetricsLog(const std::string& path) : path_(path), out_(path, std::ios::app) {
  CORTEX_CHECK(out_.good(), "MetricsLog", "cannot open '", path, "' for writing");
}

void MetricsLog::write(const nlohmann::json& record) {
  out_ << sanitise(record).dump() << '\n';
  out_.flush();
  CORTEX_CHECK(out_.good(), "MetricsLog", "writing to '", path_, "' failed");
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::ifstream in(path);
  CORTEX_CHECK(in.good(), "read_metrics", "cannot open '", path, "'");
  std::vector<nlohmann::json> records;
  std::string line;
  int64_t line_no = 0;
  while (std::getline(in, line)) {
    ++line_no;
    if (line.empty()) continue;
    try {
      records.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::exception& e) {
      CORTEX_FAIL("read_metrics", path, ":", line_no, ": not JSON (", e.what(), ")");
    }
  }
  return records;
}

void append_records_atomically(const std::string& path, const std::vector<nlohmann::json>& records) {
  const std::string temporary = path + ".tmp-append";
  try {
    {
      std::ofstream out(temporary, std::ios::trunc | std::ios::binary);
      CORTEX_CHECK(out.good(), "append_records", "cannot write '", temporary, "'");
      if (std::filesystem::exists(path)) {
        std::ifstream in(path, std::ios::binary);
        CORTEX_CHECK(in.good(), "append_records", "cannot read '", path, "'");
        const std::string old((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        CORTEX_CHECK(!in.bad(), "append_records", "cannot read '", path, "'");
        out << old;
        if (!old.empty() && old.back() != '\n') out << '\n';  // a last line without its newline stays a line
      }
      for (const auto& r : records) out << sanitise(r).dump() << '\n';
      out.flush();
      CORTEX_CHECK(out.good(), "append_records", "writing '", temporary, "' failed");
    }
    std::error_code ec;
    std::filesystem::rename(temporary, path, ec);
    CORTEX_CHECK(!ec, "append_records", "cannot replace '", path, "': ", ec.message());
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(temporary, ignored);
    throw;
  }
}

}  // namespace cortex::train
