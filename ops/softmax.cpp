// softmax and log_softmax: the kernels work on the last dim of a contiguous tensor, so any
// other dim is moved last (transpose + copy) and the result is handed back as a view.
#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex {
namespace {

// x with `dim` moved last, as a fresh or existing contiguous tensor (rank >= 1).
Tensor dim_last_contiguous(const Tensor& x, int64_t dim) {
  const int64_t last = x.dim() - 1;
  return data_contiguous(dim == last ? x : transpose_data(x, dim, last));
}

// The inverse of dim_last_contiguous for the result (a view, no copy).
Tensor restore_dim(const Tensor& t, int64_t dim) {
  const int64_t last = t.dim() - 1;
  return dim == last ? t : transpose_data(t, dim, last);
}

Tensor softmax_impl(const Tensor& x_in, int64_t dim_in, bool log, const char* name) {
  CORTEX_CHECK(x_in.defined(), name, "undefined input");
  CORTEX_CHECK(is_floating(x_in.dtype()), name, "expects a floating tensor, got ", x_in.describe());
  const int64_t dim = wrap_dim(dim_in, x_in.dim(), name);
  // A scalar is a one-element row.
  const Tensor x = x_in.dim() == 0 ? x_in.view_as_strided({1}, {1}, x_in.offset()) : x_in;
  Tensor moved = dim_last_contiguous(x, dim);
  Tensor y = empty(moved.shape(), x.dtype(), x.device());
  if (y.numel() > 0) softmax_kernel().get(x.device())(moved, y, log);
  Tensor out = restore_dim(y, dim);
  if (x_in.dim() == 0) out = out.view_as_strided({}, {}, out.offset());
  return autograd::record(name, out, {x_in}, [y = y.detach(), dim, log, scalar = x_in.dim() == 0](
                                                const Tensor& g, const autograd::NeedsGrad&) {
    const Tensor g1 = scalar ? g.view_as_strided({1}, {1}, g.offset()) : g;
    Tensor gy = dim_last_contiguous(g1, dim);
    Tensor gx = empty(y.shape(), y.dtype(), y.device());
    if (gx.numel() > 0) softmax_backward_kernel().get(y.device())(y, gy, gx, log);
    Tensor result = restore_dim(gx, dim);
    return std::vector<Tensor>{scalar ? result.view_as_strided({}, {}, result.offset()) : result};
  });
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, false, "softmax"); }
Tensor log_softmax(const Tensor& x, int64_t dim) { return softmax_impl(x, dim, true, "log_softmax"); }

}  // namespace cortex
