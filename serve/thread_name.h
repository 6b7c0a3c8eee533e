#pragma once
// Names the calling thread (as top -H, perf and /proc/PID/task/*/comm show it) so a server's
// CPU time can be read per role: cortex-worker<i> (scheduler), cortex-io<i> (the I/O threads
// besides the main one, which keeps the process's name), cortex-load.
#include <string>

namespace cortex::serve {

// Linux keeps the first 15 characters; elsewhere this does nothing.
void name_this_thread(const std::string& name);

}  // namespace cortex::serve
