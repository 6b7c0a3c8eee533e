#include "serve/thread_setup.h"

#include <pthread.h>
#include <sched.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "engine/error.h"

namespace cortex::serve {

void name_this_thread(const std::string& name) { pthread_setname_np(pthread_self(), name.substr(0, 15).c_str()); }

namespace {

int cpu_number(const std::string& key, const std::string& text, const std::string& part) {
  const auto digit = [](char c) { return c >= '0' && c <= '9'; };
  CORTEX_CHECK(!part.empty() && part.size() <= 6 && std::all_of(part.begin(), part.end(), digit),
               "cortex-serve config", key, " expects a CPU list such as 0-3,8, got '", text, "'");
  return std::stoi(part);
}

std::string allowed_cpus_text(const cpu_set_t& allowed) {
  std::ostringstream s;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &allowed)) s << (s.tellp() > 0 ? "," : "") << cpu;
  return s.str();
}

}  // namespace

std::vector<int> parse_cpu_list(const std::string& key, const std::string& text) {
  std::vector<int> cpus;
  if (text.empty()) return cpus;
  std::stringstream items(text);
  std::string item;
  while (std::getline(items, item, ',')) {
    const size_t dash = item.find('-');
    const int first = cpu_number(key, text, item.substr(0, dash));
    const int last = dash == std::string::npos ? first : cpu_number(key, text, item.substr(dash + 1));
    CORTEX_CHECK(first <= last, "cortex-serve config", key, ": the range ", item, " runs backwards");
    for (int cpu = first; cpu <= last; ++cpu) cpus.push_back(cpu);
  }
  CORTEX_CHECK(!text.empty() && text.back() != ',', "cortex-serve config", key,
               " expects a CPU list such as 0-3,8, got '", text, "'");
  std::sort(cpus.begin(), cpus.end());
  cpus.erase(std::unique(cpus.begin(), cpus.end()), cpus.end());
  cpu_set_t allowed;
  CPU_ZERO(&allowed);
  CORTEX_CHECK(sched_getaffinity(0, sizeof(allowed), &allowed) == 0, "cortex-serve config",
               "cannot read this process's CPU affinity: ", std::strerror(errno));
  for (int cpu : cpus)
    CORTEX_CHECK(cpu < CPU_SETSIZE && CPU_ISSET(cpu, &allowed), "cortex-serve config", key, ": CPU ", cpu,
                 " is not one this process may run on (", allowed_cpus_text(allowed), ")");
  return cpus;
}

std::vector<int> this_thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  const int rc = pthread_getaffinity_np(pthread_self(), sizeof(set), &set);
  CORTEX_CHECK(rc == 0, "cortex-serve", "reading a thread's CPUs failed: ", std::strerror(rc));
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  return cpus;
}

void pin_this_thread(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int cpu : cpus) CPU_SET(cpu, &set);
  const int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
  CORTEX_CHECK(rc == 0, "cortex-serve", "pinning a thread to its CPUs failed: ", std::strerror(rc));
}

}  // namespace cortex::serve
