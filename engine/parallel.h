#pragma once
#include <cstdint>
#include <functional>

namespace cortex {

// Runs fn(begin, end) over [0, n) in chunks on all cores when n >= grain, inline otherwise.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);
int num_threads();

}  // namespace cortex
