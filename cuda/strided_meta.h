#pragma once
// Strided indexing for CUDA kernels over K equally shaped views: the host coalesces dims
// (engine/strided_loop.h) and passes this by value; thread i finds its element offsets.
#include <cstdint>

#include "engine/error.h"
#include "engine/macros.h"
#include "engine/strided_loop.h"

namespace cortex::cuda {

template <int K>
struct Offsets {
  int64_t v[K];
  CORTEX_HD int64_t operator[](int k) const { return v[k]; }
};

template <int K>
struct StridedMeta {
  static constexpr int kMaxDims = 10;
  int ndim = 0;  // 0: a single element
  int64_t sizes[kMaxDims] = {};
  int64_t strides[K][kMaxDims] = {};

  // Offsets (in elements) of the i-th element, in row-major order of the shape.
  CORTEX_HD Offsets<K> offsets(int64_t i) const {
    Offsets<K> off{};
    if (ndim == 1) {
      for (int k = 0; k < K; ++k) off.v[k] = i * strides[k][0];
      return off;
    }
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t c = i % sizes[d];
      i /= sizes[d];
      for (int k = 0; k < K; ++k) off.v[k] += c * strides[k][d];
    }
    return off;
  }
};

template <int K>
StridedMeta<K> make_strided_meta(const char* op, const Shape& shape, const std::array<const Shape*, K>& strides) {
  const StridedPlan<K> plan(shape, strides);
  StridedMeta<K> m;
  CORTEX_CHECK(plan.shape.size() <= static_cast<size_t>(StridedMeta<K>::kMaxDims), op, "views of shape ",
               shape_str(shape), " need ", plan.shape.size(), " dims after merging; CUDA kernels handle at most ",
               StridedMeta<K>::kMaxDims);
  m.ndim = static_cast<int>(plan.shape.size());
  for (int d = 0; d < m.ndim; ++d) {
    m.sizes[d] = plan.shape[d];
    for (int k = 0; k < K; ++k) m.strides[k][d] = plan.strides[k][d];
  }
  return m;
}

}  // namespace cortex::cuda
