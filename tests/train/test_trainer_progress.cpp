#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "train/trainer_progress.h"

using cortex::train::ProgressReporter;

namespace {

std::string run_reporter(bool interactive) {
  std::FILE* f = std::tmpfile();
  ProgressReporter p(f, interactive, 10, 0, 5);
  for (int64_t s = 1; s <= 10; ++s) p.update(s, "loss 1.0");
  p.note("eval r2 0.5");
  p.finish();
  std::rewind(f);
  std::string out;
  char buf[256];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

size_t count(const std::string& s, const std::string& part) {
  size_t n = 0;
  for (size_t pos = s.find(part); pos != std::string::npos; pos = s.find(part, pos + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("progress: durations") {
  CHECK(ProgressReporter::format_duration(0) == "0:00");
  CHECK(ProgressReporter::format_duration(65.4) == "1:05");
  CHECK(ProgressReporter::format_duration(3723) == "1:02:03");
  CHECK(ProgressReporter::format_duration(-1) == "--:--");
}

TEST_CASE("progress: plain lines every N steps off a terminal, a redrawn bar on one") {
  const std::string plain = run_reporter(false);
  CHECK(count(plain, "\n") == 3);  // steps 5 and 10, then the note
  CHECK(plain.find("step 5/10") != std::string::npos);
  CHECK(plain.find("step 10/10") != std::string::npos);
  CHECK(plain.find("it/s") != std::string::npos);
  CHECK(plain.find("eta") != std::string::npos);
  CHECK(plain.find('\r') == std::string::npos);
  const std::string bar = run_reporter(true);
  CHECK(count(bar, "\r") == 10);  // redrawn after every step
  CHECK(bar.find("ETA") != std::string::npos);
  CHECK(bar.find("[##############################] 10/10") != std::string::npos);
  CHECK(bar.find("\neval r2 0.5\n") != std::string::npos);  // the note starts on its own line
}
