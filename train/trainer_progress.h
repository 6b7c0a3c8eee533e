#pragma once
// Progress of a training run: on a terminal a bar redrawn in place with rate and ETA,
// elsewhere (logs, CI) one plain line every `every` steps.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace cortex::train {

class ProgressReporter {
 public:
  // `interactive` chooses the bar; use stream_is_terminal(out) to decide it.
  ProgressReporter(std::FILE* out, bool interactive, int64_t total_steps, int64_t start_step, int64_t every);
  // After step `step` (1-based count of completed steps) with a short status ("loss 1.234").
  void update(int64_t step, const std::string& status);
  // A message on its own line (evaluations, checkpoints) without garbling the bar.
  void note(const std::string& message);
  void finish();

  // "1:02:03", "4:05" or "--:--" for an unknown duration.
  static std::string format_duration(double seconds);

 private:
  std::FILE* out_;
  bool interactive_;
  int64_t total_, start_, every_;
  bool bar_drawn_ = false;
  std::chrono::steady_clock::time_point t0_;
};

bool stream_is_terminal(std::FILE* stream);

}  // namespace cortex::train
