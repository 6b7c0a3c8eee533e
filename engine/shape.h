#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cortex {

using Shape = std::vector<int64_t>;

int64_t shape_numel(const Shape& shape);
Shape contiguous_strides(const Shape& shape);
std::string shape_str(const Shape& shape);  // "[2, 3]"
// Wraps a possibly negative dim into [0, rank); names the op in the error when out of range.
int64_t wrap_dim(int64_t dim, int64_t rank, const char* op);
// Numpy broadcasting of two shapes; throws naming the op and both shapes when incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace cortex
