#pragma once
// How a host thread waits for a device, and the modes' names. Free of CUDA headers, so that
// code built without CUDA (cortex-serve's config checks) reads the same names as the runtime.
#include <optional>
#include <string>

#include "engine/error.h"

namespace cortex::cuda {

// spin (lowest wake-up latency, a busy core), yield (spins but gives the core up to other ready
// threads), blocking (sleeps until the device signals) or auto (CUDA's choice: spin unless the
// process has more contexts than the machine has CPUs).
enum class HostWait { automatic, spin, yield, blocking };

inline const char* host_wait_name(HostWait mode) {
  switch (mode) {
    case HostWait::automatic: return "auto";
    case HostWait::spin: return "spin";
    case HostWait::yield: return "yield";
    case HostWait::blocking: return "blocking";
  }
  return "auto";
}

// The mode named "auto", "spin", "yield" or "blocking"; nothing for any other name.
inline std::optional<HostWait> parse_host_wait(const std::string& name) {
  for (HostWait m : {HostWait::automatic, HostWait::spin, HostWait::yield, HostWait::blocking})
    if (name == host_wait_name(m)) return m;
  return std::nullopt;
}

// As parse_host_wait, but an unknown name throws naming the choices.
inline HostWait host_wait_from_name(const std::string& name) {
  const std::optional<HostWait> mode = parse_host_wait(name);
  CORTEX_CHECK(mode.has_value(), "host_wait", "unknown host wait mode '", name, "' (auto, spin, yield or blocking)");
  return *mode;
}

}  // namespace cortex::cuda
