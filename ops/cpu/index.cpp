// CPU reference kernels for index_select, index_add, gather and scatter_add on strided views.
// Each parallel task owns distinct output elements, and repeated indices are summed in
// index order, so results do not depend on how the work is split across threads.
#include <algorithm>
#include <numeric>
#include <type_traits>
#include <vector>

#include "engine/parallel.h"
#include "engine/strided_loop.h"
#include "ops/kernels.h"

namespace cortex {
namespace {

// Sizes and strides of t without `dim`: the positions an index does not choose.
struct Rest {
  Shape shape, strides;
  Rest(const Tensor& t, int64_t dim) {
    for (int64_t d = 0; d < t.dim(); ++d) {
      if (d == dim) continue;
      shape.push_back(t.size(d));
      strides.push_back(t.stride(d));
    }
  }
};

template <typename T>
using sum_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, compute_t<T>, int64_t>;

int64_t tasks_grain(int64_t row_length) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(row_length, 1)); }

// Element i of a 1-D (or 0-D) index tensor.
template <typename I>
int64_t index_at(const Tensor& idx, int64_t i) {
  const int64_t stride = idx.dim() == 0 ? 0 : idx.stride(0);
  return static_cast<int64_t>(static_cast<const I*>(idx.data_ptr())[i * stride]);
}

void cpu_index_select(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& out) {
  const Rest xr(x, dim), outr(out, dim);
  const StridedPlan<2> plan(outr.shape, {&outr.strides, &xr.strides});
  const int64_t rows = plan.num_rows(), n = plan.row_length(), picks = idx.numel();
  const auto inner = plan.inner_strides();
  const int64_t x_step = x.stride(dim), out_step = out.stride(dim);
  visit_dtype(x.dtype(), "index_select", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    visit_index(idx.dtype(), "index_select", [&](auto itag) {
      using I = typename decltype(itag)::type;
      parallel_for(picks * rows, tasks_grain(n), [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const int64_t i = t / rows, row = t % rows;
          const auto off = plan.row_offsets(row);
          const T* src = px + off[1] + index_at<I>(idx, i) * x_step;
          T* dst = po + off[0] + i * out_step;
          for (int64_t j = 0; j < n; ++j) dst[j * inner[0]] = src[j * inner[1]];
        }
      });
    });
  });
}

// Sources grouped by destination (stable, so each group lists its sources in index order);
// each task then owns one destination slice and sums its group into it.
void cpu_index_add(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  const int64_t picks = idx.numel();
  if (picks == 0) return;
  std::vector<int64_t> dest(static_cast<size_t>(picks));
  visit_index(idx.dtype(), "index_add", [&](auto itag) {
    using I = typename decltype(itag)::type;
    for (int64_t i = 0; i < picks; ++i) dest[static_cast<size_t>(i)] = index_at<I>(idx, i);
  });
  std::vector<int64_t> order(static_cast<size_t>(picks));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
    return dest[static_cast<size_t>(a)] < dest[static_cast<size_t>(b)];
  });
  std::vector<int64_t> group_start{0};
  for (int64_t k = 1; k < picks; ++k)
    if (dest[static_cast<size_t>(order[static_cast<size_t>(k)])] !=
        dest[static_cast<size_t>(order[static_cast<size_t>(k - 1)])])
      group_start.push_back(k);
  group_start.push_back(picks);
  const int64_t groups = static_cast<int64_t>(group_start.size()) - 1;

  const Rest outr(out, dim), srcr(src, dim);
  const StridedPlan<2> plan(outr.shape, {&outr.strides, &srcr.strides});
  const int64_t rows = plan.num_rows(), n = plan.row_length();
  const auto inner = plan.inner_strides();
  const int64_t out_step = out.stride(dim), src_step = src.stride(dim);
  visit_dtype(out.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = sum_t<T>;
    T* po = static_cast<T*>(out.data_ptr());
    const T* ps = static_cast<const T*>(src.data_ptr());
    parallel_for(groups * rows, tasks_grain(n), [&](int64_t begin, int64_t end) {
      std::vector<A> acc(static_cast<size_t>(n));
      for (int64_t t = begin; t < end; ++t) {
        const int64_t g = t / rows, row = t % rows;
        const auto off = plan.row_offsets(row);
        const int64_t first = group_start[static_cast<size_t>(g)], last = group_start[static_cast<size_t>(g + 1)];
        T* dst = po + off[0] + dest[static_cast<size_t>(order[static_cast<size_t>(first)])] * out_step;
        for (int64_t j = 0; j < n; ++j) acc[static_cast<size_t>(j)] = convert<A>(dst[j * inner[0]]);
        for (int64_t k = first; k < last; ++k) {
          const T* s = ps + off[1] + order[static_cast<size_t>(k)] * src_step;
          for (int64_t j = 0; j < n; ++j) acc[static_cast<size_t>(j)] += convert<A>(s[j * inner[1]]);
        }
        for (int64_t j = 0; j < n; ++j) dst[j * inner[0]] = convert<T>(acc[static_cast<size_t>(j)]);
      }
    });
  });
}

void cpu_gather(const Tensor& x, int64_t dim, const Tensor& idx, const Tensor& out) {
  // x walked with a zero stride along dim; the index supplies that coordinate.
  Shape x_strides = x.strides();
  x_strides[static_cast<size_t>(dim)] = 0;
  const int64_t x_step = x.stride(dim);
  visit_dtype(x.dtype(), "gather", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    T* po = static_cast<T*>(out.data_ptr());
    visit_index(idx.dtype(), "gather", [&](auto itag) {
      using I = typename decltype(itag)::type;
      const I* pi = static_cast<const I*>(idx.data_ptr());
      for_each_row<3>(out.shape(), {&out.strides(), &idx.strides(), &x_strides}, [&](auto off, int64_t n, auto st) {
        for (int64_t j = 0; j < n; ++j)
          po[off[0] + j * st[0]] = px[off[2] + j * st[2] + static_cast<int64_t>(pi[off[1] + j * st[1]]) * x_step];
      });
    });
  });
}

// Every position outside dim owns one line of `out` along dim and adds into it in index
// order; lines of distinct positions never overlap, so tasks never write the same element.
void cpu_scatter_add(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  const Rest outr(out, dim), idxr(idx, dim), srcr(src, dim);
  const StridedPlan<3> plan(idxr.shape, {&outr.strides, &idxr.strides, &srcr.strides});
  const int64_t rows = plan.num_rows(), n = plan.row_length(), len = idx.size(dim);
  const auto inner = plan.inner_strides();
  const int64_t out_step = out.stride(dim), idx_step = idx.stride(dim), src_step = src.stride(dim);
  if (shape_numel(idxr.shape) == 0 || len == 0) return;
  visit_dtype(out.dtype(), "scatter_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = sum_t<T>;
    T* po = static_cast<T*>(out.data_ptr());
    const T* ps = static_cast<const T*>(src.data_ptr());
    visit_index(idx.dtype(), "scatter_add", [&](auto itag) {
      using I = typename decltype(itag)::type;
      const I* pi = static_cast<const I*>(idx.data_ptr());
      parallel_for(rows * n, std::max<int64_t>(1, 32768 / std::max<int64_t>(len, 1)), [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const int64_t row = t / n, j = t % n;
          const auto off = plan.row_offsets(row);
          T* o = po + off[0] + j * inner[0];
          const I* ix = pi + off[1] + j * inner[1];
          const T* s = ps + off[2] + j * inner[2];
          for (int64_t k = 0; k < len; ++k) {
            T& dst = o[static_cast<int64_t>(ix[k * idx_step]) * out_step];
            dst = convert<T>(convert<A>(dst) + convert<A>(s[k * src_step]));
          }
        }
      });
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(index_select_kernel, CPU, cpu_index_select);
CORTEX_REGISTER_KERNEL(index_add_kernel, CPU, cpu_index_add);
CORTEX_REGISTER_KERNEL(gather_kernel, CPU, cpu_gather);
CORTEX_REGISTER_KERNEL(scatter_add_kernel, CPU, cpu_scatter_add);

}  // namespace cortex
