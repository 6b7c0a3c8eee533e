#pragma once
// CPU iteration over K equally shaped strided views (outputs and inputs alike).
// Dims are coalesced where every operand is contiguous across them, and the innermost
// dim becomes a row handed to the callback, so element-wise kernels see a plain loop.
#include <array>
#include <cstdint>

#include "engine/parallel.h"
#include "engine/shape.h"

namespace cortex {

template <size_t K>
struct StridedPlan {
  Shape shape;                  // coalesced, size-1 dims dropped; empty for a scalar
  std::array<Shape, K> strides;  // per operand, in elements

  StridedPlan(const Shape& full_shape, const std::array<const Shape*, K>& full_strides) {
    for (size_t d = 0; d < full_shape.size(); ++d) {
      if (full_shape[d] == 1) continue;
      bool merge = !shape.empty();
      for (size_t k = 0; k < K && merge; ++k)
        merge = strides[k].back() == (*full_strides[k])[d] * full_shape[d];
      if (merge) {
        shape.back() *= full_shape[d];
        for (size_t k = 0; k < K; ++k) strides[k].back() = (*full_strides[k])[d];
      } else {
        shape.push_back(full_shape[d]);
        for (size_t k = 0; k < K; ++k) strides[k].push_back((*full_strides[k])[d]);
      }
    }
  }

  int64_t row_length() const { return shape.empty() ? 1 : shape.back(); }
  int64_t num_rows() const {
    int64_t n = 1;
    for (size_t d = 0; d + 1 < shape.size(); ++d) n *= shape[d];
    return shape.empty() ? 1 : n;
  }
  std::array<int64_t, K> inner_strides() const {
    std::array<int64_t, K> s{};
    for (size_t k = 0; k < K; ++k) s[k] = shape.empty() ? 0 : strides[k].back();
    return s;
  }
  std::array<int64_t, K> row_offsets(int64_t row) const {
    std::array<int64_t, K> off{};
    for (size_t d = shape.size() - (shape.empty() ? 0 : 1); d-- > 0;) {
      const int64_t i = row % shape[d];
      row /= shape[d];
      for (size_t k = 0; k < K; ++k) off[k] += i * strides[k][d];
    }
    return off;
  }
};

// fn(offsets, n, inner_strides) once per row: element j of the row lives at
// offsets[k] + j * inner_strides[k] in operand k. Rows run in parallel for large tensors.
template <size_t K, typename RowFn>
void for_each_row(const Shape& shape, const std::array<const Shape*, K>& strides, RowFn&& fn,
                  int64_t grain_elements = 32768) {
  if (shape_numel(shape) == 0) return;
  const StridedPlan<K> plan(shape, strides);
  const int64_t rows = plan.num_rows(), n = plan.row_length();
  const auto inner = plan.inner_strides();
  const int64_t grain_rows = std::max<int64_t>(1, grain_elements / std::max<int64_t>(n, 1));
  parallel_for(rows, grain_rows, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) fn(plan.row_offsets(r), n, inner);
  });
}

}  // namespace cortex
