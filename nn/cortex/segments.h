#pragma once
// Per-sample segments of a packed list: samples keep their own lengths (no padding) and
// sample b owns rows [offsets[b], offsets[b + 1]).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cortex::nn {

struct Segments {
  std::vector<int64_t> offsets{0};

  static Segments from_sizes(const std::vector<int64_t>& sizes);
  // `samples` segments of `size` rows each.
  static Segments uniform(int64_t samples, int64_t size);

  int64_t samples() const { return static_cast<int64_t>(offsets.size()) - 1; }
  int64_t total() const { return offsets.back(); }
  int64_t begin(int64_t b) const { return offsets[static_cast<size_t>(b)]; }
  int64_t size(int64_t b) const { return offsets[static_cast<size_t>(b) + 1] - offsets[static_cast<size_t>(b)]; }

  // Throws cortex::Error (naming `op` and `what`) unless the offsets start at 0, never
  // decrease, end at `rows`, and (when samples >= 0) describe that many samples.
  void check(const char* op, const char* what, int64_t rows, int64_t samples = -1) const;
};

}  // namespace cortex::nn
