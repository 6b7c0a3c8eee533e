#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace cortex {

// Every user-facing failure is an Error whose message names the op and what was expected.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace cortex

// CORTEX_CHECK(cond, "op", parts...) throws cortex::Error("op: parts...") when cond is false.
#define CORTEX_CHECK(cond, op, ...)                                                   \
  do {                                                                                \
    if (!(cond)) throw ::cortex::Error(::cortex::detail::concat(op, ": ", __VA_ARGS__)); \
  } while (0)

#define CORTEX_FAIL(op, ...) throw ::cortex::Error(::cortex::detail::concat(op, ": ", __VA_ARGS__))
