// cat/stack copy the parts into slices of one fresh tensor; split/chunk are narrow views.
#include "ops/shape_ops.h"

#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/views.h"

namespace cortex {

Tensor cat(const std::vector<Tensor>& parts, int64_t dim_in) {
  CORTEX_CHECK(!parts.empty(), "cat", "needs at least one tensor");
  for (size_t i = 0; i < parts.size(); ++i) CORTEX_CHECK(parts[i].defined(), "cat", "part ", i, " is undefined");
  const Tensor& first = parts[0];
  CORTEX_CHECK(first.dim() >= 1, "cat", "cannot concatenate 0-d tensors (use stack), got ", first.describe());
  const int64_t dim = wrap_dim(dim_in, first.dim(), "cat");
  Shape shape = first.shape();
  std::vector<int64_t> lengths;
  int64_t total = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& p = parts[i];
    CORTEX_CHECK(p.dtype() == first.dtype() && p.device() == first.device(), "cat", "part ", i, " ", p.describe(),
                 " differs in dtype or device from part 0 ", first.describe());
    bool same = p.dim() == first.dim();
    for (int64_t d = 0; same && d < p.dim(); ++d) same = d == dim || p.size(d) == first.size(d);
    CORTEX_CHECK(same, "cat", "part ", i, " ", p.describe(), " does not match part 0 ", first.describe(),
                 " outside dim ", dim);
    lengths.push_back(p.size(dim));
    total += p.size(dim);
  }
  shape[static_cast<size_t>(dim)] = total;
  Tensor out = empty(shape, first.dtype(), first.device());
  int64_t start = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (parts[i].numel() > 0) copy_(narrow_data(out, dim, start, lengths[i]), parts[i]);
    start += lengths[i];
  }
  return autograd::record("cat", out, parts, [dim, lengths](const Tensor& g, const autograd::NeedsGrad& needs) {
    std::vector<Tensor> grads(lengths.size());
    int64_t begin = 0;
    for (size_t i = 0; i < lengths.size(); ++i) {
      if (needs[i]) grads[i] = narrow_data(g, dim, begin, lengths[i]);
      begin += lengths[i];
    }
    return grads;
  });
}

Tensor stack(const std::vector<Tensor>& parts, int64_t dim_in) {
  CORTEX_CHECK(!parts.empty(), "stack", "needs at least one tensor");
  for (size_t i = 0; i < parts.size(); ++i) {
    CORTEX_CHECK(parts[i].defined(), "stack", "part ", i, " is undefined");
    CORTEX_CHECK(parts[i].shape() == parts[0].shape(), "stack", "part ", i, " ", parts[i].describe(),
                 " differs in shape from part 0 ", parts[0].describe());
  }
  const int64_t dim = wrap_dim(dim_in, parts[0].dim() + 1, "stack");
  std::vector<Tensor> lifted;
  lifted.reserve(parts.size());
  for (const Tensor& p : parts) lifted.push_back(unsqueeze(p, dim));
  return cat(lifted, dim);
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim_in) {
  CORTEX_CHECK(x.defined() && x.dim() >= 1, "split", "needs a tensor with at least one dim, got ",
               x.defined() ? x.describe() : "undefined");
  const int64_t dim = wrap_dim(dim_in, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    CORTEX_CHECK(s >= 0, "split", "negative size ", s);
    total += s;
  }
  CORTEX_CHECK(total == x.size(dim), "split", "sizes add up to ", total, " but dim ", dim, " of ", x.describe(),
               " has ", x.size(dim));
  std::vector<Tensor> pieces;
  int64_t start = 0;
  for (int64_t s : sizes) {
    pieces.push_back(narrow(x, dim, start, s));
    start += s;
  }
  return pieces;
}

std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim_in) {
  CORTEX_CHECK(chunks >= 1, "chunk", "needs at least one chunk, got ", chunks);
  CORTEX_CHECK(x.defined() && x.dim() >= 1, "chunk", "needs a tensor with at least one dim, got ",
               x.defined() ? x.describe() : "undefined");
  const int64_t dim = wrap_dim(dim_in, x.dim(), "chunk");
  const int64_t n = x.size(dim);
  if (n == 0) return split(x, std::vector<int64_t>(static_cast<size_t>(chunks), 0), dim);
  // Pieces of ceil(n / chunks); fewer than `chunks` pieces when that covers n sooner.
  const int64_t piece = (n + chunks - 1) / chunks;
  std::vector<int64_t> sizes;
  for (int64_t start = 0; start < n; start += piece) sizes.push_back(std::min(piece, n - start));
  return split(x, sizes, dim);
}

}  // namespace cortex
