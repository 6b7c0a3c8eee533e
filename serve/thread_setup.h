#pragma once
// Operating-system setup of the server's threads: a name by role, as top -H, perf and
// /proc/PID/task/*/comm show it (cortex-worker<i> for scheduler workers, cortex-io<i> for the
// I/O threads besides the main one, which keeps the process's name, cortex-load), and pinning
// to CPUs, so a deployment can keep the scheduler workers on cores nothing else runs on.
#include <string>
#include <vector>

namespace cortex::serve {

// Linux keeps the first 15 characters; elsewhere this does nothing.
void name_this_thread(const std::string& name);

// A CPU list as taskset and /proc write them ("0-3,8,10-11") as sorted, distinct CPU numbers;
// empty text gives an empty list (no pinning). Throws cortex::Error naming `key` for malformed
// text or a CPU this process may not run on (outside its current affinity).
std::vector<int> parse_cpu_list(const std::string& key, const std::string& text);

// The CPUs the calling thread may run on now.
std::vector<int> this_thread_cpus();

// Restricts the calling thread (and the threads it starts later) to `cpus`; nothing when empty.
// Throws cortex::Error with the operating system's reason.
void pin_this_thread(const std::vector<int>& cpus);

}  // namespace cortex::serve
