#pragma once
// Validation of integer index tensors shared by the index ops, embedding and cross_entropy.
// Kernels trust their indices, so every op that takes user indices checks them here first
// (one copy to the host; indices are small next to the data they pick from).
#include <optional>

#include "engine/tensor.h"

namespace cortex {

inline void check_index_tensor(const Tensor& idx, const Tensor& data, const char* op, const char* what) {
  CORTEX_CHECK(idx.defined(), op, "undefined ", what);
  CORTEX_CHECK(idx.dtype() == DType::i32 || idx.dtype() == DType::i64, op, what, " must be i32 or i64, got ",
               idx.describe());
  CORTEX_CHECK(idx.device() == data.device(), op, what, " ", idx.describe(), " and data ", data.describe(),
               " on different devices");
}

// The first index outside [0, bound), if any.
inline std::optional<int64_t> first_out_of_range(const Tensor& idx, int64_t bound) {
  if (idx.numel() == 0) return std::nullopt;
  for (int64_t v : idx.to_vector<int64_t>())
    if (v < 0 || v >= bound) return v;
  return std::nullopt;
}

}  // namespace cortex
