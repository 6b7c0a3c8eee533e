#include "nn/cortex/segments.h"

#include "engine/error.h"

namespace cortex::nn {

Segments Segments::from_sizes(const std::vector<int64_t>& sizes) {
  Segments s;
  s.offsets.reserve(sizes.size() + 1);
  for (int64_t n : sizes) {
    CORTEX_CHECK(n >= 0, "Segments", "segment sizes must be >= 0, got ", n);
    s.offsets.push_back(s.offsets.back() + n);
  }
  return s;
}

Segments Segments::uniform(int64_t samples, int64_t size) {
  return from_sizes(std::vector<int64_t>(static_cast<size_t>(samples), size));
}

void Segments::check(const char* op, const char* what, int64_t rows, int64_t expected_samples) const {
  CORTEX_CHECK(!offsets.empty() && offsets.front() == 0, op, what, " offsets must start at 0");
  for (size_t i = 1; i < offsets.size(); ++i)
    CORTEX_CHECK(offsets[i] >= offsets[i - 1], op, what, " offsets decrease at sample ", i - 1, " (", offsets[i - 1],
                 " -> ", offsets[i], ")");
  CORTEX_CHECK(offsets.back() == rows, op, what, " offsets end at ", offsets.back(), " but there are ", rows, " rows");
  if (expected_samples >= 0)
    CORTEX_CHECK(samples() == expected_samples, op, what, " offsets describe ", samples(), " samples, expected ",
                 expected_samples);
}

}  // namespace cortex::nn
