// GPU section: GEMM TFLOP/s through cortex::matmul (cuBLASLt) for the Cortex shapes and
// 8192^3, the caching allocator against cudaMalloc/cudaFree, and copy bandwidth (the
// yardstick for the memory-bound kernels). Device work is timed with CUDA events.
#ifdef CORTEX_WITH_CUDA
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "cuda/caching_allocator.h"
#include "cuda/gemm.h"
#include "cuda/host_upload.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#include "ops/ops.h"
#include "section.h"
#include "table.h"

namespace cortex::bench {
namespace {

double median(std::vector<double> v) {
  std::nth_element(v.begin(), v.begin() + v.size() / 2, v.end());
  return v[v.size() / 2];
}

// Median milliseconds per call of fn on the current stream: warm-up first, then samples of
// enough back-to-back calls to last about 20 ms each, for min_seconds in total (>= 5 samples).
double device_ms(const std::function<void()>& fn, double min_seconds) {
  const cudaStream_t stream = cuda::current_stream();
  cuda::Event start(true), stop(true);
  fn();
  start.record(stream);
  fn();
  stop.record(stream);
  stop.synchronize();
  const double one = std::max<double>(start.elapsed_ms(stop), 1e-3);
  const int iters = std::clamp(static_cast<int>(20.0 / one), 1, 2000);
  std::vector<double> samples;
  double total_ms = 0;
  while (samples.size() < 5 || (total_ms < min_seconds * 1e3 && samples.size() < 200)) {
    start.record(stream);
    for (int i = 0; i < iters; ++i) fn();
    stop.record(stream);
    stop.synchronize();
    const double ms = start.elapsed_ms(stop);
    samples.push_back(ms / iters);
    total_ms += ms;
  }
  return median(samples);
}

// Median host nanoseconds per call (for host-side work such as allocator bookkeeping).
double host_ns(const std::function<void()>& fn, int iters, int samples) {
  using clock = std::chrono::steady_clock;
  fn();
  std::vector<double> v;
  for (int s = 0; s < samples; ++s) {
    const auto t0 = clock::now();
    for (int i = 0; i < iters; ++i) fn();
    v.push_back(std::chrono::duration<double, std::nano>(clock::now() - t0).count() / iters);
  }
  return median(v);
}

std::string card_name() {
  cudaDeviceProp prop{};
  CORTEX_CUDA_CHECK(cudaGetDeviceProperties(&prop, cuda::current_device()));
  return prop.name;
}

struct GemmCase {
  int64_t m, n, k;
  std::string note;
};

void gemm_table(const Options& o) {
  std::vector<GemmCase> cases;
  const std::vector<int64_t> widths = o.quick ? std::vector<int64_t>{512, 2048} : std::vector<int64_t>{512, 1536, 2048};
  // batch 64 of 256 latent tokens, and of 1024 spike events per window
  for (int64_t rows : o.quick ? std::vector<int64_t>{64 * 256} : std::vector<int64_t>{64 * 256, 64 * 1024})
    for (int64_t n : widths)
      for (int64_t k : widths)
        cases.push_back({rows, n, k, rows == 64 * 256 ? "64 x 256 latents" : "64 x 1024 events"});
  cases.push_back({8192, 8192, 8192, "square"});

  struct Mode {
    const char* name;
    DType dtype;
    bool tf32;
  };
  const std::vector<Mode> modes{{"bf16", DType::bf16, false}, {"f32 (TF32)", DType::f32, true}, {"f32", DType::f32, false}};
  Table table({"M x N x K", "shape", "dtype", "ms", "TFLOP/s"});
  const bool tf32_before = cuda::allow_tf32();
  for (const Mode& mode : modes) {
    for (const GemmCase& c : cases) {
      if (!mode.tf32 && mode.dtype == DType::f32 && c.note != "square") continue;  // strict f32: square only
      cuda::set_allow_tf32(mode.tf32);
      const Tensor a = uniform({c.m, c.k}, -1, 1, mode.dtype, Device::cuda(0));
      const Tensor b = uniform({c.k, c.n}, -1, 1, mode.dtype, Device::cuda(0));
      const double ms = device_ms([&] { matmul(a, b); }, o.min_seconds);
      const double flop = 2.0 * static_cast<double>(c.m) * static_cast<double>(c.n) * static_cast<double>(c.k);
      table.add({std::to_string(c.m) + " x " + std::to_string(c.n) + " x " + std::to_string(c.k), c.note, mode.name,
                 fmt("%.3f", ms), fmt("%.1f", flop / (ms * 1e-3) * 1e-12)});
    }
  }
  cuda::set_allow_tf32(tf32_before);
  table.print();
}

void allocator_table(const Options& o) {
  Table table({"size", "cached allocate+free (ns)", "cudaMalloc+cudaFree (ns)", "speed-up"});
  auto& allocator = cuda::CachingAllocator::instance();
  const int iters = o.quick ? 200 : 2000;
  for (size_t bytes : {size_t(4) << 10, size_t(1) << 20, size_t(64) << 20}) {
    const double cached = host_ns([&] { allocator.allocate(bytes, Device::cuda(0)); }, iters, 7);
    const double raw = host_ns(
        [&] {
          void* p = nullptr;
          CORTEX_CUDA_CHECK(cudaMalloc(&p, bytes));
          CORTEX_CUDA_CHECK(cudaFree(p));
        },
        std::max(iters / 20, 10), 7);
    const std::string size = bytes >= (size_t(1) << 20) ? std::to_string(bytes >> 20) + " MiB"
                                                        : std::to_string(bytes >> 10) + " KiB";
    table.add({size, fmt("%.0f", cached), fmt("%.0f", raw), fmt("%.0fx", raw / cached)});
  }
  table.print();
}

void copy_table(const Options& o) {
  const int64_t n = o.quick ? (int64_t(1) << 24) : (int64_t(1) << 28);  // f32 elements: 64 MiB or 1 GiB
  const int64_t side = o.quick ? 2048 : 8192;
  Table table({"copy", "bytes moved (read + written)", "ms", "GB/s"});
  auto row = [&](const std::string& name, double bytes, const std::function<void()>& fn) {
    const double ms = device_ms(fn, o.min_seconds);
    table.add({name, fmt("%.0f MB", bytes * 1e-6), fmt("%.3f", ms), fmt("%.0f", bytes / (ms * 1e-3) * 1e-9)});
  };
  {
    const Tensor src = uniform({n}, -1, 1, DType::f32, Device::cuda(0));
    Tensor dst = empty({n}, DType::f32, Device::cuda(0));
    row("device->device f32, contiguous (cudaMemcpyAsync)", 2.0 * n * 4, [&] { copy_(dst, src); });
    Tensor half = empty({n}, DType::bf16, Device::cuda(0));
    row("device->device f32 -> bf16 (convert kernel)", n * 4.0 + n * 2.0, [&] { copy_(half, src); });
  }
  {
    const Tensor m = uniform({side, side}, -1, 1, DType::f32, Device::cuda(0));
    Tensor t = empty({side, side}, DType::f32, Device::cuda(0));
    const double bytes = 2.0 * side * side * 4;
    row("device->device f32 transpose " + std::to_string(side) + "^2 (strided kernel)", bytes,
        [&] { copy_(t, transpose_data(m, 0, 1)); });
  }
  {
    const int64_t h = o.quick ? (int64_t(1) << 22) : (int64_t(1) << 26);  // 16 MiB or 256 MiB
    const Tensor host = uniform({h}, -1, 1, DType::f32);
    Tensor dev = empty({h}, DType::f32, Device::cuda(0));
    row("host->device f32, pageable, contiguous", h * 4.0, [&] { copy_(dev, host); });
    Tensor back = empty({h}, DType::f32);
    row("device->host f32, pageable, contiguous", h * 4.0, [&] { copy_(back, dev); });
    cuda::Stream copy_stream;
    row("host->device f32, upload_async (pinned staging, copy stream)", h * 4.0,
        [&] { cuda::upload_async(host, Device::cuda(0), copy_stream); });
  }
  table.print();
}

void run_gpu(const Options& o) {
  CORTEX_CHECK(cuda::device_count() > 0, "cortex-bench gpu", "no CUDA device visible");
  NoGradGuard no_grad;
  std::printf("Card: %s\n\n### GEMM (cortex::matmul -> cuBLASLt, random inputs, output allocated per call)\n\n",
              card_name().c_str());
  gemm_table(o);
  std::printf("\n### Caching allocator vs cudaMalloc/cudaFree (host time per pair)\n\n");
  allocator_table(o);
  std::printf("\n### Copy bandwidth (copy_)\n\n");
  copy_table(o);
  const auto s = cuda::allocator_stats(0);
  std::printf("\nAllocator after the run: %zu MiB reserved, peak %zu MiB allocated, %llu cudaMalloc calls\n",
              s.reserved_bytes >> 20, s.peak_allocated_bytes >> 20,
              static_cast<unsigned long long>(s.cuda_malloc_count));
}

}  // namespace

CORTEX_BENCH_SECTION("gpu", "CUDA GEMM TFLOP/s, caching allocator, copy bandwidth", run_gpu);

}  // namespace cortex::bench
#endif  // CORTEX_WITH_CUDA
