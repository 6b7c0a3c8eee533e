// CPU section: GEMM against OpenBLAS called directly, and memory bandwidth of the
// row-wise kernels (softmax, RMSNorm) against plain copies.
#include <cblas.h>
#include <sys/resource.h>

#include <cmath>
#include <cstring>

#include "autograd/grad_mode.h"
#include "engine/parallel.h"
#include "ops/ops.h"
#include "section.h"
#include "table.h"
#include "timing.h"

namespace cortex::bench {
namespace {

struct GemmShape {
  int64_t m, n, k;
  const char* note;
};

void gemm_table(const Options& o) {
  std::vector<GemmShape> shapes;
  for (int64_t s : o.quick ? std::vector<int64_t>{256, 512} : std::vector<int64_t>{256, 512, 1024, 2048})
    shapes.push_back({s, s, s, "square"});
  // Cortex-like: 64 sequences x 256 tokens against d_model / MLP widths.
  const int64_t tokens = o.quick ? 64 * 32 : 64 * 256;
  for (int64_t k : {512, 1536})
    for (int64_t n : {512, 1536}) shapes.push_back({tokens, n, k, "tokens x d"});

  Table table({"M x N x K", "kind", "cortex::matmul GFLOP/s", "cblas_sgemm GFLOP/s", "cortex / blas", "max abs diff"});
  for (const auto& s : shapes) {
    const Tensor a = randn({s.m, s.k}), b = randn({s.k, s.n});
    Tensor c_blas = empty({s.m, s.n});
    Tensor c_cortex;
    const double flop = 2.0 * static_cast<double>(s.m) * static_cast<double>(s.n) * static_cast<double>(s.k);
    const double t_cortex = median_seconds([&] { c_cortex = matmul(a, b); }, o.min_seconds);
    const double t_blas = median_seconds(
        [&] {
          cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(s.m), static_cast<int>(s.n),
                      static_cast<int>(s.k), 1.0f, a.data<float>(), static_cast<int>(s.k), b.data<float>(),
                      static_cast<int>(s.n), 0.0f, c_blas.data<float>(), static_cast<int>(s.n));
        },
        o.min_seconds);
    // Both must have computed the same product for the comparison to mean anything.
    const double diff = max(abs(sub(c_cortex, c_blas))).item();
    table.add({std::to_string(s.m) + " x " + std::to_string(s.n) + " x " + std::to_string(s.k), s.note,
               fmt("%.1f", flop / t_cortex * 1e-9), fmt("%.1f", flop / t_blas * 1e-9), fmt("%.2f", t_blas / t_cortex),
               fmt("%.1e", diff)});
  }
  table.print();
}

struct RowOp {
  const char* name;
  std::function<Tensor(const Tensor&)> fn;
};

void bandwidth_table(const Options& o) {
  const std::vector<Shape> shapes = o.quick ? std::vector<Shape>{{2048, 512}}
                                            : std::vector<Shape>{{16384, 512}, {16384, 1536}, {4096, 4096}};
  Table table({"op", "shape", "bytes moved", "time (ms)", "GB/s"});
  for (const Shape& shape : shapes) {
    const Tensor x = randn(shape);
    const Tensor w = ones({shape.back()});
    const Tensor dst = empty(shape);
    const std::vector<RowOp> ops = {
        {"memcpy (baseline)",
         [&](const Tensor& in) {
           std::memcpy(dst.data_ptr(), in.data_ptr(), in.nbytes());
           return dst;
         }},
        {"copy_", [&](const Tensor& in) {
           copy_(dst, in);
           return dst;
         }},
        {"softmax", [](const Tensor& in) { return softmax(in, -1); }},
        {"rms_norm", [&](const Tensor& in) { return rms_norm(in, w, 1e-6); }},
    };
    for (const auto& op : ops) {
      // Each reads x once and writes an output of the same size.
      const double bytes = 2.0 * static_cast<double>(x.nbytes());
      const double t = median_seconds([&] { op.fn(x); }, o.min_seconds);
      table.add({op.name, shape_str(shape) + " f32", fmt("%.0f MB", bytes * 1e-6), fmt("%.3f", t * 1e3),
                 fmt("%.1f", bytes / t * 1e-9)});
    }
  }
  table.print();
}

// CPU seconds this process has used (all threads).
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

void run_cpu(const Options& o) {
  NoGradGuard no_grad;
  const double cpu0 = process_cpu_seconds();
  const auto wall0 = std::chrono::steady_clock::now();
  std::printf("threads: %d OpenMP, %d OpenBLAS; f32; median of >= 3 runs and >= %.2f s per cell\n\n", num_threads(),
              openblas_get_num_threads(), o.min_seconds);
  std::printf("### GEMM (C = A B, row-major, f32)\n\n");
  gemm_table(o);
  std::printf("### Row-wise kernels, memory bandwidth (read x + write y)\n\n");
  bandwidth_table(o);
  // Well below 100% means other processes took the cores and every number above is low.
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  std::printf("CPU share: this process used %.0f%% of %d threads over the section's %.1f s of wall time\n\n",
              100.0 * (process_cpu_seconds() - cpu0) / (wall * num_threads()), num_threads(), wall);
}

}  // namespace

CORTEX_BENCH_SECTION("cpu", "CPU kernels: GEMM vs OpenBLAS, softmax/RMSNorm bandwidth", run_cpu);

}  // namespace cortex::bench
