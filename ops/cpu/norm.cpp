// CPU reference RMSNorm and LayerNorm over contiguous rows [R, C]. Row statistics
// accumulate in f64; the saved mean/rstd are f32 as the kernel contract says.
#include <algorithm>
#include <cmath>
#include <functional>
#include <vector>

#include "engine/parallel.h"
#include "ops/kernels.h"

namespace cortex {
namespace {

int64_t rows_per_chunk(int64_t cols) { return std::max<int64_t>(1, 32768 / std::max<int64_t>(cols, 1)); }

constexpr int64_t kColumnBlock = 64;

// Column sums over all rows for the weight/bias gradients: each chunk owns a block of
// columns and walks the rows in order, so the result does not depend on threading.
// row_terms(r, c0, c1, acc) adds row r's terms for columns [c0, c1) into acc[k * kColumnBlock + c - c0].
template <typename Fn>
void column_sums(int64_t rows, int64_t cols, int n_out, Fn&& row_terms,
                 const std::function<void(int, int64_t, double)>& write) {
  constexpr int64_t kBlock = kColumnBlock;
  const int64_t blocks = (cols + kBlock - 1) / kBlock;
  parallel_for(blocks, std::max<int64_t>(1, 4096 / std::max<int64_t>(rows, 1)), [&](int64_t begin, int64_t end) {
    std::vector<double> acc(static_cast<size_t>(kBlock * n_out));
    for (int64_t blk = begin; blk < end; ++blk) {
      const int64_t c0 = blk * kBlock, c1 = std::min(cols, c0 + kBlock);
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t r = 0; r < rows; ++r) row_terms(r, c0, c1, acc.data());
      for (int k = 0; k < n_out; ++k)
        for (int64_t c = c0; c < c1; ++c) write(k, c, acc[static_cast<size_t>(k * kBlock + c - c0)]);
    }
  });
}

void cpu_rmsnorm(const Tensor& x, const Tensor& w, double eps, const Tensor& y, const Tensor& rstd) {
  const int64_t rows = x.size(0), cols = x.size(1);
  visit_floating(x.dtype(), "rms_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    T* py = static_cast<T*>(y.data_ptr());
    float* pr = rstd.data<float>();
    parallel_for(rows, rows_per_chunk(cols), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = px + r * cols;
        double ss = 0;
        for (int64_t c = 0; c < cols; ++c) {
          const double v = convert<double>(xr[c]);
          ss += v * v;
        }
        const double inv = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
        pr[r] = static_cast<float>(inv);
        for (int64_t c = 0; c < cols; ++c)
          py[r * cols + c] = convert<T>(convert<double>(xr[c]) * inv * convert<double>(pw[c]));
      }
    });
  });
}

// gx = r * w * gy - x * r^3 / C * sum(w * gy * x);  gw = sum_rows(gy * x * r)
void cpu_rmsnorm_backward(const Tensor& x, const Tensor& w, const Tensor& rstd, const Tensor& gy, const Tensor& gx,
                          const Tensor& gw) {
  const int64_t rows = x.size(0), cols = x.size(1);
  visit_floating(x.dtype(), "rms_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    const T* pg = static_cast<const T*>(gy.data_ptr());
    const float* pr = rstd.data<float>();
    T* pgx = static_cast<T*>(gx.data_ptr());
    T* pgw = static_cast<T*>(gw.data_ptr());
    parallel_for(rows, rows_per_chunk(cols), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = px + r * cols;
        const T* gr = pg + r * cols;
        const double inv = pr[r];
        double dot = 0;
        for (int64_t c = 0; c < cols; ++c)
          dot += convert<double>(gr[c]) * convert<double>(pw[c]) * convert<double>(xr[c]);
        const double k = inv * inv * inv * dot / static_cast<double>(cols);
        for (int64_t c = 0; c < cols; ++c)
          pgx[r * cols + c] =
              convert<T>(inv * convert<double>(pw[c]) * convert<double>(gr[c]) - convert<double>(xr[c]) * k);
      }
    });
    column_sums(
        rows, cols, 1,
        [&](int64_t r, int64_t c0, int64_t c1, double* acc) {
          const double inv = pr[r];
          for (int64_t c = c0; c < c1; ++c)
            acc[c - c0] += convert<double>(pg[r * cols + c]) * convert<double>(px[r * cols + c]) * inv;
        },
        [&](int, int64_t c, double v) { pgw[c] = convert<T>(v); });
  });
}

void cpu_layernorm(const Tensor& x, const Tensor& w, const Tensor& b, double eps, const Tensor& y, const Tensor& mean,
                   const Tensor& rstd) {
  const int64_t rows = x.size(0), cols = x.size(1);
  visit_floating(x.dtype(), "layer_norm", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    const T* pb = static_cast<const T*>(b.data_ptr());
    T* py = static_cast<T*>(y.data_ptr());
    float* pm = mean.data<float>();
    float* pr = rstd.data<float>();
    parallel_for(rows, rows_per_chunk(cols), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = px + r * cols;
        double s = 0;
        for (int64_t c = 0; c < cols; ++c) s += convert<double>(xr[c]);
        const double mu = s / static_cast<double>(cols);
        // Two passes: the variance of centred values does not cancel catastrophically.
        double ss = 0;
        for (int64_t c = 0; c < cols; ++c) {
          const double d = convert<double>(xr[c]) - mu;
          ss += d * d;
        }
        const double inv = 1.0 / std::sqrt(ss / static_cast<double>(cols) + eps);
        pm[r] = static_cast<float>(mu);
        pr[r] = static_cast<float>(inv);
        for (int64_t c = 0; c < cols; ++c)
          py[r * cols + c] =
              convert<T>((convert<double>(xr[c]) - mu) * inv * convert<double>(pw[c]) + convert<double>(pb[c]));
      }
    });
  });
}

// xhat = (x - mean) * r, gxhat = gy * w:
// gx = r * (gxhat - mean(gxhat) - xhat * mean(gxhat * xhat)); gw = sum_rows(gy * xhat); gb = sum_rows(gy)
void cpu_layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd,
                            const Tensor& gy, const Tensor& gx, const Tensor& gw, const Tensor& gb) {
  const int64_t rows = x.size(0), cols = x.size(1);
  visit_floating(x.dtype(), "layer_norm_backward", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T* px = static_cast<const T*>(x.data_ptr());
    const T* pw = static_cast<const T*>(w.data_ptr());
    const T* pg = static_cast<const T*>(gy.data_ptr());
    const float* pm = mean.data<float>();
    const float* pr = rstd.data<float>();
    T* pgx = static_cast<T*>(gx.data_ptr());
    T* pgw = static_cast<T*>(gw.data_ptr());
    T* pgb = static_cast<T*>(gb.data_ptr());
    parallel_for(rows, rows_per_chunk(cols), [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const T* xr = px + r * cols;
        const T* gr = pg + r * cols;
        const double mu = pm[r], inv = pr[r];
        double sum_g = 0, sum_gx = 0;
        for (int64_t c = 0; c < cols; ++c) {
          const double gh = convert<double>(gr[c]) * convert<double>(pw[c]);
          sum_g += gh;
          sum_gx += gh * (convert<double>(xr[c]) - mu) * inv;
        }
        const double mean_g = sum_g / static_cast<double>(cols), mean_gx = sum_gx / static_cast<double>(cols);
        for (int64_t c = 0; c < cols; ++c) {
          const double xhat = (convert<double>(xr[c]) - mu) * inv;
          const double gh = convert<double>(gr[c]) * convert<double>(pw[c]);
          pgx[r * cols + c] = convert<T>(inv * (gh - mean_g - xhat * mean_gx));
        }
      }
    });
    column_sums(
        rows, cols, 2,
        [&](int64_t r, int64_t c0, int64_t c1, double* acc) {
          const double mu = pm[r], inv = pr[r];
          for (int64_t c = c0; c < c1; ++c) {
            const double g = convert<double>(pg[r * cols + c]);
            acc[c - c0] += g * (convert<double>(px[r * cols + c]) - mu) * inv;
            acc[kColumnBlock + c - c0] += g;
          }
        },
        [&](int k, int64_t c, double v) { (k == 0 ? pgw : pgb)[c] = convert<T>(v); });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(rmsnorm_kernel, CPU, cpu_rmsnorm);
CORTEX_REGISTER_KERNEL(rmsnorm_backward_kernel, CPU, cpu_rmsnorm_backward);
CORTEX_REGISTER_KERNEL(layernorm_kernel, CPU, cpu_layernorm);
CORTEX_REGISTER_KERNEL(layernorm_backward_kernel, CPU, cpu_layernorm_backward);

}  // namespace cortex
