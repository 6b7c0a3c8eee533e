#pragma once
// Element offsets of N equally shaped strided operands, computed on the device from a
// linear index. The host coalesces dims first (StridedPlan), so most views need one or two
// dims; the indexer is passed to kernels by value.
#include <array>
#include <cstdint>
#include <cstdlib>
#include <limits>

#include "cuda/kernels/launch.cuh"
#include "engine/strided_loop.h"

namespace cortex::cuda {

constexpr int kMaxDims = 8;

template <size_t N>
struct StridedIndexer {
  int ndim = 0;
  int64_t base[N] = {};  // added to every offset (set when the host splits off leading dims)
  int64_t sizes[kMaxDims] = {};
  int64_t strides[N][kMaxDims] = {};

  // off[k] = offset in elements of operand k for the element with row-major index `linear`.
  template <typename Index>
  __device__ __forceinline__ void offsets(Index linear, Index (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < static_cast<int>(N); ++k) off[k] = static_cast<Index>(base[k]);
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d) {
      if (d < ndim) {
        const Index size = static_cast<Index>(sizes[d]);
        const Index i = linear % size;
        linear /= size;
#pragma unroll
        for (int k = 0; k < static_cast<int>(N); ++k) off[k] += i * static_cast<Index>(strides[k][d]);
      }
    }
  }
};

// Largest |offset| reachable by any operand of the plan: decides whether 32-bit index
// arithmetic is safe.
template <size_t N>
int64_t max_extent(const StridedPlan<N>& plan) {
  int64_t worst = shape_numel(plan.shape);
  for (size_t k = 0; k < N; ++k) {
    int64_t extent = 0;
    for (size_t d = 0; d < plan.shape.size(); ++d) extent += (plan.shape[d] - 1) * std::llabs(plan.strides[k][d]);
    worst = std::max(worst, extent + 1);
  }
  return worst;
}

// Largest element offset one view can reach from its first element.
inline int64_t max_extent(const Tensor& t) {
  int64_t extent = 0;
  for (int64_t d = 0; d < t.dim(); ++d) extent += (t.size(d) - 1) * std::llabs(t.stride(d));
  return extent;
}

template <size_t N>
bool fits_int32(const StridedPlan<N>& plan) {
  return max_extent(plan) < std::numeric_limits<int32_t>::max();
}

// Calls launch(indexer, numel) once per block of at most kMaxDims trailing dims; the
// leading dims beyond that (rare after coalescing) are looped over on the host.
template <size_t N, typename Launch>
void for_each_indexer(const StridedPlan<N>& plan, Launch&& launch) {
  const int ndim = static_cast<int>(plan.shape.size());
  const int lead = std::max(0, ndim - kMaxDims);
  int64_t lead_count = 1, inner_numel = 1;
  for (int d = 0; d < ndim; ++d) (d < lead ? lead_count : inner_numel) *= plan.shape[static_cast<size_t>(d)];
  if (lead_count * inner_numel == 0) return;
  StridedIndexer<N> ix;
  ix.ndim = ndim - lead;
  for (int d = lead; d < ndim; ++d) {
    ix.sizes[d - lead] = plan.shape[static_cast<size_t>(d)];
    for (int k = 0; k < static_cast<int>(N); ++k) ix.strides[k][d - lead] = plan.strides[static_cast<size_t>(k)][static_cast<size_t>(d)];
  }
  for (int64_t l = 0; l < lead_count; ++l) {
    int64_t rest = l;
    for (int k = 0; k < static_cast<int>(N); ++k) ix.base[k] = 0;
    for (int d = lead; d-- > 0;) {
      const int64_t i = rest % plan.shape[static_cast<size_t>(d)];
      rest /= plan.shape[static_cast<size_t>(d)];
      for (int k = 0; k < static_cast<int>(N); ++k) ix.base[k] += i * plan.strides[static_cast<size_t>(k)][static_cast<size_t>(d)];
    }
    launch(ix, inner_numel);
  }
}

}  // namespace cortex::cuda
