#include "train/trainer_progress.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>

namespace cortex::train {

bool stream_is_terminal(std::FILE* stream) { return ::isatty(::fileno(stream)) == 1; }

ProgressReporter::ProgressReporter(std::FILE* out, bool interactive, int64_t total_steps, int64_t start_step,
                                   int64_t every)
    : out_(out),
      interactive_(interactive),
      total_(std::max<int64_t>(total_steps, 1)),
      start_(start_step),
      every_(std::max<int64_t>(every, 1)),
      t0_(std::chrono::steady_clock::now()) {}

std::string ProgressReporter::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "--:--";
  const int64_t s = static_cast<int64_t>(std::llround(seconds));
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>((s / 60) % 60), static_cast<long long>(s % 60));
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60), static_cast<long long>(s % 60));
  return buf;
}

void ProgressReporter::update(int64_t step, const std::string& status) {
  const bool last = step >= total_;
  if (!interactive_ && step % every_ != 0 && !last) return;
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  const int64_t done_here = step - start_;
  const double rate = elapsed > 0 && done_here > 0 ? static_cast<double>(done_here) / elapsed : 0.0;
  const double eta = rate > 0 ? static_cast<double>(total_ - step) / rate : -1.0;
  if (interactive_) {
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * std::min<int64_t>(step, total_) / total_);
    std::string bar(static_cast<size_t>(filled), '#');
    bar.resize(kWidth, '.');
    std::fprintf(out_, "\r[%s] %lld/%lld %.2f it/s ETA %s  %s\x1b[K", bar.c_str(), static_cast<long long>(step),
                 static_cast<long long>(total_), rate, format_duration(eta).c_str(), status.c_str());
    bar_drawn_ = true;
  } else {
    std::fprintf(out_, "step %lld/%lld  %.2f it/s  elapsed %s  eta %s  %s\n", static_cast<long long>(step),
                 static_cast<long long>(total_), rate, format_duration(elapsed).c_str(), format_duration(eta).c_str(),
                 status.c_str());
  }
  std::fflush(out_);
}

void ProgressReporter::note(const std::string& message) {
  if (bar_drawn_) std::fputc('\n', out_);
  bar_drawn_ = false;
  std::fprintf(out_, "%s\n", message.c_str());
  std::fflush(out_);
}

void ProgressReporter::finish() {
  if (bar_drawn_) std::fputc('\n', out_);
  bar_drawn_ = false;
  std::fflush(out_);
}

}  // namespace cortex::train
