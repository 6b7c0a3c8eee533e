// embedding: rows of a [V, D] table picked by ids of any shape. Forward is index_select
// over the flattened ids, backward the deterministic index_add into a zero table.
// embedding_trusted: the same forward without a host read of GPU ids (graph captures).
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/index_check.h"
#include "ops/kernels.h"
#include "ops/nn_ops.h"
#include "ops/views.h"

namespace cortex {
namespace {

// A view of t with `shape` (t's data copied only when its strides do not allow one).
Tensor reshaped_data(const Tensor& t, const Shape& shape) {
  Tensor v = try_reshape_view(t, shape);
  return v.defined() ? v : try_reshape_view(contiguous_copy(t), shape);
}

}  // namespace

Tensor embedding(const Tensor& ids, const Tensor& table) {
  CORTEX_CHECK(table.defined() && table.dim() == 2, "embedding", "table must be [V, D], got ",
               table.defined() ? table.describe() : "undefined");
  check_index_tensor(ids, table, "embedding", "ids");
  const int64_t vocab = table.size(0), width = table.size(1);
  if (auto bad = first_out_of_range(ids, vocab))
    CORTEX_FAIL("embedding", "id ", *bad, " out of range [0, ", vocab, ") for a table of V=", vocab, " rows ",
                table.describe());
  const int64_t n = ids.numel();
  Tensor flat_ids = reshaped_data(ids, {n}).detach();
  Tensor rows = empty({n, width}, table.dtype(), table.device());
  if (rows.numel() > 0) index_select_kernel().get(table.device())(table, 0, flat_ids, rows);
  Shape out_shape = ids.shape();
  out_shape.push_back(width);
  Tensor out = rows.view_as_strided(out_shape, contiguous_strides(out_shape), 0);
  return autograd::record("embedding", out, {table}, [flat_ids, vocab, width](const Tensor& g,
                                                                              const autograd::NeedsGrad&) {
    Tensor grad_table = zeros({vocab, width}, g.dtype(), g.device());
    if (g.numel() > 0)
      index_add_kernel().get(g.device())(grad_table, 0, flat_ids, reshaped_data(g, {flat_ids.numel(), width}));
    return std::vector<Tensor>{grad_table};
  });
}

Tensor embedding_trusted(const Tensor& ids, const Tensor& table) {
  constexpr const char* op = "embedding_trusted";
  CORTEX_CHECK(table.defined() && table.dim() == 2, op, "table must be [V, D], got ",
               table.defined() ? table.describe() : "undefined");
  check_index_tensor(ids, table, op, "ids");
  CORTEX_CHECK(!grad_enabled() || !table.requires_grad(), op, "has no backward, but table ", table.describe(),
               " would record autograd history (call it under NoGradGuard)");
  const int64_t vocab = table.size(0), width = table.size(1);
  if (ids.device().is_cpu())
    if (auto bad = first_out_of_range(ids, vocab))
      CORTEX_FAIL(op, "id ", *bad, " out of range [0, ", vocab, ") for a table of V=", vocab, " rows ",
                  table.describe());
  const int64_t n = ids.numel();
  Tensor rows = empty({n, width}, table.dtype(), table.device());
  if (rows.numel() > 0) index_select_kernel().get(table.device())(table, 0, reshaped_data(ids, {n}), rows);
  Shape out_shape = ids.shape();
  out_shape.push_back(width);
  return rows.view_as_strided(out_shape, contiguous_strides(out_shape), 0);
}

}  // namespace cortex
