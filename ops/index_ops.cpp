// index_select, gather, scatter_add, index_add: the ops validate shapes and index values,
// the kernels move data. Each backward is the "transpose" op on the same indices.
#include "ops/index_ops.h"

#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/index_check.h"
#include "ops/kernels.h"

namespace cortex {
namespace {

void check_in_range(const Tensor& idx, int64_t bound, int64_t dim, const Tensor& data, const char* op) {
  if (auto bad = first_out_of_range(idx, bound))
    CORTEX_FAIL(op, "index ", *bad, " out of range [0, ", bound, ") for dim ", dim, " of ", data.describe());
}

// A 1-D (or 0-D) index list for index_select / index_add, as a 1-D view.
Tensor index_list(const Tensor& idx, const Tensor& data, const char* op) {
  check_index_tensor(idx, data, op, "index");
  CORTEX_CHECK(idx.dim() <= 1, op, "index must be 1-D, got ", idx.describe());
  return idx.dim() == 1 ? idx.detach() : idx.view_as_strided({1}, {1}, idx.offset());
}

void check_same_kind(const Tensor& a, const Tensor& b, const char* op, const char* a_name, const char* b_name) {
  CORTEX_CHECK(a.defined() && b.defined(), op, "undefined ", a.defined() ? b_name : a_name);
  CORTEX_CHECK(a.dtype() == b.dtype() && a.device() == b.device(), op, a_name, " ", a.describe(), " and ", b_name,
               " ", b.describe(), " must share dtype and device");
}

// gather/scatter_add: idx has data's rank and fits inside it outside `dim`.
void check_index_grid(const Tensor& idx, const Tensor& data, int64_t dim, const char* op) {
  check_index_tensor(idx, data, op, "index");
  CORTEX_CHECK(idx.dim() == data.dim(), op, "index ", idx.describe(), " must have the rank of ", data.describe());
  for (int64_t d = 0; d < data.dim(); ++d)
    CORTEX_CHECK(d == dim || idx.size(d) <= data.size(d), op, "index ", idx.describe(), " is larger than ",
                 data.describe(), " in dim ", d);
  check_in_range(idx, data.size(dim), dim, data, op);
}

int64_t data_dim(const Tensor& x, int64_t dim, const char* op) {
  CORTEX_CHECK(x.defined(), op, "undefined input");
  CORTEX_CHECK(x.dim() >= 1, op, "needs a tensor with at least one dim, got ", x.describe());
  return wrap_dim(dim, x.dim(), op);
}

}  // namespace

Tensor index_select(const Tensor& x, int64_t dim_in, const Tensor& idx_in) {
  const int64_t dim = data_dim(x, dim_in, "index_select");
  Tensor idx = index_list(idx_in, x, "index_select");
  check_in_range(idx, x.size(dim), dim, x, "index_select");
  Shape shape = x.shape();
  shape[static_cast<size_t>(dim)] = idx.numel();
  Tensor out = empty(shape, x.dtype(), x.device());
  if (out.numel() > 0) index_select_kernel().get(x.device())(x, dim, idx, out);
  return autograd::record("index_select", out, {x}, [idx, dim, in_shape = x.shape()](
                                                      const Tensor& g, const autograd::NeedsGrad&) {
    Tensor gx = zeros(in_shape, g.dtype(), g.device());
    if (g.numel() > 0) index_add_kernel().get(g.device())(gx, dim, idx, g);
    return std::vector<Tensor>{gx};
  });
}

Tensor gather(const Tensor& x, int64_t dim_in, const Tensor& idx_in) {
  const int64_t dim = data_dim(x, dim_in, "gather");
  check_index_grid(idx_in, x, dim, "gather");
  Tensor idx = idx_in.detach();
  Tensor out = empty(idx.shape(), x.dtype(), x.device());
  if (out.numel() > 0) gather_kernel().get(x.device())(x, dim, idx, out);
  return autograd::record("gather", out, {x}, [idx, dim, in_shape = x.shape()](
                                                const Tensor& g, const autograd::NeedsGrad&) {
    Tensor gx = zeros(in_shape, g.dtype(), g.device());
    if (g.numel() > 0) scatter_add_kernel().get(g.device())(gx, dim, idx, g);
    return std::vector<Tensor>{gx};
  });
}

Tensor scatter_add(const Tensor& base, int64_t dim_in, const Tensor& idx_in, const Tensor& src) {
  const int64_t dim = data_dim(base, dim_in, "scatter_add");
  check_same_kind(base, src, "scatter_add", "base", "src");
  check_index_grid(idx_in, base, dim, "scatter_add");
  CORTEX_CHECK(idx_in.shape() == src.shape(), "scatter_add", "index ", idx_in.describe(), " and src ",
               src.describe(), " must have the same shape");
  Tensor idx = idx_in.detach();
  Tensor out = contiguous_copy(base);
  if (src.numel() > 0) scatter_add_kernel().get(out.device())(out, dim, idx, src);
  return autograd::record("scatter_add", out, {base, src}, [idx, dim](const Tensor& g,
                                                                      const autograd::NeedsGrad& needs) {
    Tensor gsrc;
    if (needs[1]) {
      gsrc = empty(idx.shape(), g.dtype(), g.device());
      if (gsrc.numel() > 0) gather_kernel().get(g.device())(g, dim, idx, gsrc);
    }
    return std::vector<Tensor>{needs[0] ? g : Tensor(), gsrc};
  });
}

Tensor index_add(const Tensor& base, int64_t dim_in, const Tensor& idx_in, const Tensor& src) {
  const int64_t dim = data_dim(base, dim_in, "index_add");
  check_same_kind(base, src, "index_add", "base", "src");
  Tensor idx = index_list(idx_in, base, "index_add");
  Shape expected = base.shape();
  expected[static_cast<size_t>(dim)] = idx.numel();
  CORTEX_CHECK(src.shape() == expected, "index_add", "src ", src.describe(), " must have shape ",
               shape_str(expected), " (base ", base.describe(), " with ", idx.numel(), " indices at dim ", dim, ")");
  check_in_range(idx, base.size(dim), dim, base, "index_add");
  Tensor out = contiguous_copy(base);
  if (src.numel() > 0) index_add_kernel().get(out.device())(out, dim, idx, src);
  return autograd::record("index_add", out, {base, src}, [idx, dim](const Tensor& g,
                                                                    const autograd::NeedsGrad& needs) {
    Tensor gsrc;
    if (needs[1]) {
      Shape shape = g.shape();
      shape[static_cast<size_t>(dim)] = idx.numel();
      gsrc = empty(shape, g.dtype(), g.device());
      if (gsrc.numel() > 0) index_select_kernel().get(g.device())(g, dim, idx, gsrc);
    }
    return std::vector<Tensor>{needs[0] ? g : Tensor(), gsrc};
  });
}

}  // namespace cortex
