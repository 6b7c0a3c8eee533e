#pragma once
// One window of spike events as the server receives it, and the checks every request passes
// before it is admitted.
#include <cstdint>
#include <string>
#include <vector>

namespace cortex::serve {

// Events in time order. Times are in milliseconds on the stream's clock (absolute, so a
// stream's events keep their times as its window slides); the window covers
// [end_ms - length_ms, end_ms). Counts are spikes per event (1 for a single spike).
struct Window {
  std::vector<int32_t> units;
  std::vector<double> times_ms;
  std::vector<int32_t> counts;
  double end_ms = 0.0;

  size_t size() const { return units.size(); }
  bool empty() const { return units.empty(); }
};

// Why a request was refused; each reason is a label of the rejection counter.
enum class Rejection {
  none,
  malformed,        // unparsable JSON or binary
  wrong_type,       // a field of the wrong type or a missing field
  unit_out_of_range,
  empty_window,
  out_of_order,
  time_out_of_window,
  too_many_events,
  body_too_large,
  queue_full,
  draining,
  not_ready,         // the model is still loading
  deadline_expired,
  client_timeout,
  not_found,
  bad_method,
  stream_cache_full,
  internal,  // last: Metrics registers every reason up to here
};
const char* rejection_name(Rejection r);
// HTTP status code a rejection is answered with.
int rejection_status(Rejection r);

// A refusal with a message for the client.
struct RequestError {
  Rejection reason = Rejection::none;
  std::string message;
  explicit operator bool() const { return reason != Rejection::none; }
};

struct WindowLimits {
  int64_t num_units = 0;       // valid ids are [0, num_units)
  double length_ms = 600.0;    // window length
  int64_t max_events = 65536;  // per window
  bool allow_empty = false;    // streams may have quiet strides
};

// Checks sizes, unit ids, counts >= 1, non-decreasing times inside
// [end_ms - length_ms, end_ms). `lower_ms` overrides the window start (a stream stride
// only carries times after the previous stride's end).
RequestError validate_window(const Window& w, const WindowLimits& limits, double lower_ms);
inline RequestError validate_window(const Window& w, const WindowLimits& limits) {
  return validate_window(w, limits, w.end_ms - limits.length_ms);
}

}  // namespace cortex::serve
