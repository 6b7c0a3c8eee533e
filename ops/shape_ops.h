#pragma once
#include <vector>

#include "engine/tensor.h"

namespace cortex {

// Joins tensors along an existing dim (cat) or a new one (stack). All must share dtype,
// device and every other dim.
Tensor cat(const std::vector<Tensor>& parts, int64_t dim);
Tensor stack(const std::vector<Tensor>& parts, int64_t dim);
// Views of consecutive pieces along dim with the given sizes (which must add up to the dim).
std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim);
// Views of `chunks` equal pieces (the last may be smaller).
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim);

}  // namespace cortex
