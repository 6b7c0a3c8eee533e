#include "ops/reduce.h"

#include <algorithm>

#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/kernels.h"
#include "ops/views.h"

namespace cortex {
namespace {

std::vector<int64_t> normalize_dims(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t d = 0; d < x.dim(); ++d) out.push_back(d);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, x.dim(), op));
  std::sort(out.begin(), out.end());
  CORTEX_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, "repeated dim in the reduction");
  if (x.dim() == 0) out.clear();
  return out;
}

Shape kept_shape(const Tensor& x, const std::vector<int64_t>& dims) {
  Shape s = x.shape();
  for (int64_t d : dims) s[static_cast<size_t>(d)] = 1;
  return s;
}

Shape dropped_shape(const Tensor& x, const std::vector<int64_t>& dims) {
  Shape s;
  for (int64_t d = 0; d < x.dim(); ++d)
    if (!std::binary_search(dims.begin(), dims.end(), d)) s.push_back(x.size(d));
  return s;
}

Tensor reduce_raw(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims, const char* name) {
  if (op != ReduceOp::sum)
    for (int64_t d : dims) CORTEX_CHECK(x.size(d) > 0, name, "reduction over an empty dim of ", x.describe());
  Tensor out = empty(kept_shape(x, dims), x.dtype(), x.device());
  if (dims.empty()) {
    copy_(out, x);
    return out;
  }
  reduce_kernel().get(x.device())(op, x, dims, out);
  return out;
}

Tensor extreme(ReduceOp op, const char* name, const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const auto dims = normalize_dims(x, dims_in, name);
  Tensor kept = reduce_raw(op, x, dims, name);
  Tensor out = keepdim ? kept : kept.view_as_strided(dropped_shape(x, dims), contiguous_strides(dropped_shape(x, dims)), 0);
  Tensor xd = x.detach();
  return autograd::record(name, out, {x}, [xd, kept, kept_shape = kept.shape()](const Tensor& g,
                                                                                 const autograd::NeedsGrad&) {
    Tensor hit = to(eq(xd, kept), g.dtype());
    Tensor count = sum_to(hit, kept_shape);
    return std::vector<Tensor>{mul(hit, div(reshape(g, kept_shape), count))};
  });
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const auto dims = normalize_dims(x, dims_in, "sum");
  Tensor kept = reduce_raw(ReduceOp::sum, x, dims, "sum");
  Tensor out = keepdim ? kept : reshape(kept.detach(), dropped_shape(x, dims));
  return autograd::record("sum", out, {x}, [in_shape = x.shape(), kept_shape = kept.shape()](
                                             const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{contiguous_copy(expand_data(reshape(g, kept_shape), in_shape))};
  });
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  const auto dims = normalize_dims(x, dims_in, "mean");
  CORTEX_CHECK(is_floating(x.dtype()), "mean", "expects a floating tensor, got ", x.describe());
  int64_t n = 1;
  for (int64_t d : dims) n *= x.size(d);
  CORTEX_CHECK(n > 0, "mean", "mean over zero elements of ", x.describe());
  return mul(sum(x, dims, keepdim), 1.0 / static_cast<double>(n));
}

Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(ReduceOp::max, "max", x, dims, keepdim);
}
Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(ReduceOp::min, "min", x, dims, keepdim);
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) {
  const int64_t d = wrap_dim(dim, x.dim(), "argmax");
  CORTEX_CHECK(x.dim() > 0 && x.size(d) > 0, "argmax", "needs a non-empty dim, got ", x.describe());
  Tensor out = empty(kept_shape(x, {d}), DType::i64, x.device());
  argmax_kernel().get(x.device())(x, d, out);
  return keepdim ? out : reshape(out, dropped_shape(x, {d}));
}

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - static_cast<int64_t>(shape.size());
  CORTEX_CHECK(lead >= 0, "sum_to", "cannot sum ", g.describe(), " to the larger shape ", shape_str(shape));
  std::vector<int64_t> dims;
  for (int64_t d = 0; d < g.dim(); ++d) {
    if (d < lead) {
      dims.push_back(d);
    } else if (shape[static_cast<size_t>(d - lead)] == 1 && g.size(d) != 1) {
      dims.push_back(d);
    } else {
      CORTEX_CHECK(shape[static_cast<size_t>(d - lead)] == g.size(d), "sum_to", "cannot sum ", g.describe(), " to ",
                   shape_str(shape));
    }
  }
  return reshape(sum(g, dims, true), shape);
}

}  // namespace cortex
