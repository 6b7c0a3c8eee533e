#include "ops/views.h"

#include <algorithm>
#include <numeric>

#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/reduce.h"

namespace cortex {
namespace {

Shape infer_shape(const Shape& requested, int64_t numel, const char* op) {
  Shape shape = requested;
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      CORTEX_CHECK(infer_at < 0, op, "more than one -1 in ", shape_str(requested));
      infer_at = static_cast<int64_t>(i);
    } else {
      CORTEX_CHECK(shape[i] >= 0, op, "invalid size in ", shape_str(requested));
      known *= shape[i];
    }
  }
  if (infer_at >= 0) {
    CORTEX_CHECK(known != 0 && numel % known == 0, op, "cannot infer -1 in ", shape_str(requested), " for ", numel,
                 " elements");
    shape[static_cast<size_t>(infer_at)] = numel / known;
  }
  CORTEX_CHECK(shape_numel(shape) == numel, op, "shape ", shape_str(requested), " does not hold ", numel, " elements");
  return shape;
}

using autograd::NeedsGrad;

}  // namespace

Tensor try_reshape_view(const Tensor& x, const Shape& shape) {
  if (x.is_contiguous() || x.numel() == 0) return x.view_as_strided(shape, contiguous_strides(shape), x.offset());
  // Old dims split into chunks that are each contiguous in memory; the new dims must
  // tile those chunks exactly, and then take strides from the chunk they fall in.
  const Shape& old_shape = x.shape();
  const Shape& old_strides = x.strides();
  Shape new_strides(shape.size(), 1);
  int64_t view_d = static_cast<int64_t>(shape.size()) - 1;
  int64_t chunk_base_stride = old_strides.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = static_cast<int64_t>(old_shape.size()) - 1; d >= 0; --d) {
    tensor_numel *= old_shape[static_cast<size_t>(d)];
    const bool chunk_ends = d == 0 || (old_shape[static_cast<size_t>(d - 1)] != 1 &&
                                       old_strides[static_cast<size_t>(d - 1)] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || shape[static_cast<size_t>(view_d)] == 1)) {
      new_strides[static_cast<size_t>(view_d)] = view_numel * chunk_base_stride;
      view_numel *= shape[static_cast<size_t>(view_d)];
      --view_d;
    }
    if (view_numel != tensor_numel) return Tensor();
    if (d > 0) {
      chunk_base_stride = old_strides[static_cast<size_t>(d - 1)];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  if (view_d != -1) return Tensor();
  return x.view_as_strided(shape, new_strides, x.offset());
}

Tensor reshape(const Tensor& x, const Shape& requested) {
  const Shape shape = infer_shape(requested, x.numel(), "reshape");
  Tensor view = try_reshape_view(x, shape);
  Tensor out = view.defined() ? view : try_reshape_view(contiguous_copy(x), shape);
  return autograd::record("reshape", out, {x}, [in_shape = x.shape()](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{reshape(g, in_shape)};
  });
}

Tensor flatten(const Tensor& x, int64_t start_dim, int64_t end_dim) {
  if (x.dim() == 0) return reshape(x, {1});
  const int64_t s = wrap_dim(start_dim, x.dim(), "flatten"), e = wrap_dim(end_dim, x.dim(), "flatten");
  CORTEX_CHECK(s <= e, "flatten", "start_dim ", start_dim, " after end_dim ", end_dim);
  Shape shape(x.shape().begin(), x.shape().begin() + s);
  int64_t n = 1;
  for (int64_t d = s; d <= e; ++d) n *= x.size(d);
  shape.push_back(n);
  shape.insert(shape.end(), x.shape().begin() + e + 1, x.shape().end());
  return reshape(x, shape);
}

Tensor transpose_data(const Tensor& x, int64_t dim0, int64_t dim1) {
  const int64_t a = wrap_dim(dim0, x.dim(), "transpose"), b = wrap_dim(dim1, x.dim(), "transpose");
  Shape shape = x.shape(), strides = x.strides();
  if (x.dim() > 0) {
    std::swap(shape[a], shape[b]);
    std::swap(strides[a], strides[b]);
  }
  return x.view_as_strided(shape, strides, x.offset());
}

Tensor transpose(const Tensor& x, int64_t dim0, int64_t dim1) {
  Tensor out = transpose_data(x, dim0, dim1);
  return autograd::record("transpose", out, {x}, [dim0, dim1](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{transpose(g, dim0, dim1)};
  });
}

Tensor permute(const Tensor& x, const std::vector<int64_t>& order) {
  CORTEX_CHECK(static_cast<int64_t>(order.size()) == x.dim(), "permute", "order of length ", order.size(),
               " for ", x.describe());
  std::vector<int64_t> dims(order.size()), inverse(order.size());
  std::vector<bool> seen(order.size(), false);
  Shape shape(order.size()), strides(order.size());
  for (size_t i = 0; i < order.size(); ++i) {
    const int64_t d = wrap_dim(order[i], x.dim(), "permute");
    CORTEX_CHECK(!seen[static_cast<size_t>(d)], "permute", "dim ", d, " repeated in the order");
    seen[static_cast<size_t>(d)] = true;
    shape[i] = x.size(d);
    strides[i] = x.stride(d);
    inverse[static_cast<size_t>(d)] = static_cast<int64_t>(i);
  }
  Tensor out = x.view_as_strided(shape, strides, x.offset());
  return autograd::record("permute", out, {x}, [inverse](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{permute(g, inverse)};
  });
}

Tensor narrow_data(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  const int64_t d = wrap_dim(dim, x.dim(), "narrow");
  CORTEX_CHECK(x.dim() > 0, "narrow", "cannot narrow a scalar");
  CORTEX_CHECK(start >= 0 && length >= 0 && start + length <= x.size(d), "narrow", "range [", start, ", ",
               start + length, ") out of bounds for dim ", d, " of ", x.describe());
  Shape shape = x.shape();
  shape[static_cast<size_t>(d)] = length;
  return x.view_as_strided(shape, x.strides(), x.offset() + start * x.stride(d));
}

Tensor narrow(const Tensor& x, int64_t dim, int64_t start, int64_t length) {
  Tensor out = narrow_data(x, dim, start, length);
  return autograd::record("narrow", out, {x}, [in_shape = x.shape(), dim, start, length](
                                                const Tensor& g, const NeedsGrad&) {
    Tensor full_grad = zeros(in_shape, g.dtype(), g.device());
    copy_(narrow_data(full_grad, dim, start, length), g);
    return std::vector<Tensor>{full_grad};
  });
}

Tensor expand_data(const Tensor& x, const Shape& requested) {
  CORTEX_CHECK(requested.size() >= x.shape().size(), "expand", "cannot expand ", x.describe(), " to fewer dims ",
               shape_str(requested));
  const size_t lead = requested.size() - x.shape().size();
  Shape shape(requested.size()), strides(requested.size());
  for (size_t i = 0; i < requested.size(); ++i) {
    if (i < lead) {
      CORTEX_CHECK(requested[i] >= 0, "expand", "invalid size in ", shape_str(requested));
      shape[i] = requested[i];
      strides[i] = 0;
      continue;
    }
    const int64_t have = x.shape()[i - lead];
    const int64_t want = requested[i] == -1 ? have : requested[i];
    CORTEX_CHECK(have == want || have == 1, "expand", "cannot expand ", x.describe(), " to ", shape_str(requested));
    shape[i] = want;
    strides[i] = have == want ? x.strides()[i - lead] : 0;
  }
  if (shape == x.shape()) return x;
  return x.view_as_strided(shape, strides, x.offset());
}

Tensor expand(const Tensor& x, const Shape& shape) {
  Tensor out = expand_data(x, shape);
  if (out.impl() == x.impl()) return x;
  return autograd::record("expand", out, {x}, [in_shape = x.shape()](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{sum_to(g, in_shape)};
  });
}

Tensor squeeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim(), "squeeze");
  CORTEX_CHECK(x.dim() > 0 && x.size(d) == 1, "squeeze", "dim ", dim, " of ", x.describe(), " is not of size 1");
  Shape shape = x.shape();
  shape.erase(shape.begin() + d);
  return reshape(x, shape);
}

Tensor unsqueeze(const Tensor& x, int64_t dim) {
  const int64_t d = wrap_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape = x.shape();
  shape.insert(shape.begin() + d, 1);
  return reshape(x, shape);
}

Tensor contiguous(const Tensor& x) {
  if (x.is_contiguous()) return x;
  Tensor out = contiguous_copy(x);
  return autograd::record("contiguous", out, {x}, [](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{g};
  });
}

Tensor to(const Tensor& x, DType dtype) {
  if (x.dtype() == dtype) return x;
  Tensor out = data_to_dtype(x, dtype);
  if (!is_floating(dtype) || !is_floating(x.dtype())) return out;
  return autograd::record("to_dtype", out, {x}, [from = x.dtype()](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{data_to_dtype(g, from)};
  });
}

Tensor to(const Tensor& x, Device device) {
  if (x.device() == device) return x;
  Tensor out = data_to_device(x, device);
  return autograd::record("to_device", out, {x}, [from = x.device()](const Tensor& g, const NeedsGrad&) {
    return std::vector<Tensor>{data_to_device(g, from)};
  });
}

Tensor to(const Tensor& x, Device device, DType dtype) { return to(to(x, device), dtype); }

}  // namespace cortex
