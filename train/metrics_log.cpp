#include "train/metrics_log.h"

#include <cmath>
#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

void append_records(const std::string& path, const std::vector<nlohmann::json>& records) {
  std::string text;
  for (const auto& r : records) text += sanitise(r).dump() + '\n';
  // Opened for reading too, for the pread of the last byte.
  const int fd = ::open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  CORTEX_CHECK(fd >= 0, "append_records", "cannot append to '", path, "': ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) == 0 && st.st_size > 0) {
    char last = '\n';  // a last line without its newline stays a line of its own
    if (::pread(fd, &last, 1, st.st_size - 1) == 1 && last != '\n') text.insert(text.begin(), '\n');
  }
  // One write of everything: O_APPEND places it after whatever other writers appended, and a
  // write that fails part-way is cut back off, so the file never ends in half a record.
  const ssize_t written = ::write(fd, text.data(), text.size());
  const int write_errno = errno;
  if (written != static_cast<ssize_t>(text.size())) {
    if (written > 0 && ::fstat(fd, &st) == 0) {
      const int truncated = ::ftruncate(fd, st.st_size - written);
      (void)truncated;  // the error below is reported either way
    }
    ::close(fd);
    CORTEX_FAIL("append_records", "writing '", path, "' failed",
                written < 0 ? std::string(": ") + std::strerror(write_errno) : std::string(" part-way"));
  }
  CORTEX_CHECK(::close(fd) == 0, "append_records", "closing '", path, "' failed: ", std::strerror(errno));
}

}  // namespace cortex::train
