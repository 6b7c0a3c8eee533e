#include "serve/window.h"

#include <cmath>
#include <sstream>

namespace cortex::serve {

const char* rejection_name(Rejection r) {
  switch (r) {
    case Rejection::none: return "none";
    case Rejection::malformed: return "malformed";
    case Rejection::wrong_type: return "wrong_type";
    case Rejection::unit_out_of_range: return "unit_out_of_range";
    case Rejection::empty_window: return "empty_window";
    case Rejection::out_of_order: return "out_of_order";
    case Rejection::time_out_of_window: return "time_out_of_window";
    case Rejection::too_many_events: return "too_many_events";
    case Rejection::body_too_large: return "body_too_large";
    case Rejection::queue_full: return "queue_full";
    case Rejection::draining: return "draining";
    case Rejection::not_ready: return "not_ready";
    case Rejection::deadline_expired: return "deadline_expired";
    case Rejection::client_timeout: return "client_timeout";
    case Rejection::not_found: return "not_found";
    case Rejection::bad_method: return "bad_method";
    case Rejection::stream_cache_full: return "stream_cache_full";
    case Rejection::internal: return "internal";
  }
  return "unknown";
}

int rejection_status(Rejection r) {
  switch (r) {
    case Rejection::none: return 200;
    case Rejection::malformed:
    case Rejection::wrong_type: return 400;
    case Rejection::unit_out_of_range:
    case Rejection::empty_window:
    case Rejection::out_of_order:
    case Rejection::time_out_of_window:
    case Rejection::too_many_events: return 422;
    case Rejection::body_too_large: return 413;
    case Rejection::queue_full: return 429;
    case Rejection::draining: return 503;
    case Rejection::not_ready: return 503;
    case Rejection::deadline_expired: return 504;
    case Rejection::client_timeout: return 408;
    case Rejection::not_found: return 404;
    case Rejection::bad_method: return 405;
    case Rejection::stream_cache_full: return 503;
    case Rejection::internal: return 500;
  }
  return 500;
}

namespace {
template <typename... Args>
RequestError refuse(Rejection r, const Args&... parts) {
  std::ostringstream os;
  (os << ... << parts);
  return {r, os.str()};
}
}  // namespace

RequestError validate_window(const Window& w, const WindowLimits& limits, double lower_ms) {
  const size_t n = w.units.size();
  if (w.times_ms.size() != n || w.counts.size() != n)
    return refuse(Rejection::wrong_type, "units, times and counts must have the same length (got ", n, ", ",
                  w.times_ms.size(), ", ", w.counts.size(), ")");
  if (n == 0 && !limits.allow_empty) return refuse(Rejection::empty_window, "the window has no events");
  if (static_cast<int64_t>(n) > limits.max_events)
    return refuse(Rejection::too_many_events, "the window has ", n, " events; the limit is ", limits.max_events);
  if (!std::isfinite(w.end_ms)) return refuse(Rejection::wrong_type, "the window end is not a finite number");
  for (size_t i = 0; i < n; ++i) {
    if (w.units[i] < 0 || w.units[i] >= limits.num_units)
      return refuse(Rejection::unit_out_of_range, "event ", i, " has unit id ", w.units[i],
                    "; the model knows units 0..", limits.num_units - 1);
    const double t = w.times_ms[i];
    if (!std::isfinite(t) || t < lower_ms || t >= w.end_ms)
      return refuse(Rejection::time_out_of_window, "event ", i, " at ", t, " ms lies outside the window [",
                    lower_ms, ", ", w.end_ms, ") ms");
    if (i > 0 && t < w.times_ms[i - 1])
      return refuse(Rejection::out_of_order, "event ", i, " at ", t, " ms comes before event ", i - 1, " at ",
                    w.times_ms[i - 1], " ms; events must be in time order");
    if (w.counts[i] < 1)
      return refuse(Rejection::wrong_type, "event ", i, " has count ", w.counts[i],
                    "; an event's count is its number of spikes, at least 1");
  }
  return {};
}

}  // namespace cortex::serve
