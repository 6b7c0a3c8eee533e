// GPU kernels section: bandwidth of the memory-bound CUDA kernels (element-wise, softmax,
// RMSNorm, LayerNorm, reductions, AdamW, embedding backward) as a fraction of the card's
// measured device-to-device copy bandwidth, on Cortex shapes (64 x 256 latent tokens of
// width 512 or 1536). Bytes are the fewest each kernel must move: every input read once,
// every output written once. Inputs rotate over enough copies to exceed the L2 cache, so
// the numbers are DRAM bandwidth, not cache. Kernels are called through their tables with
// preallocated outputs; device time is measured with CUDA events.
#ifdef CORTEX_WITH_CUDA
#include <cuda_runtime.h>

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "autograd/grad_mode.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#include "engine/factory.h"
#include "ops/kernels.h"
#include "section.h"
#include "table.h"

namespace cortex::bench {
namespace {

const Device kGpu = Device::cuda(0);

// Median milliseconds per call of fn(i) (i counts calls, to rotate inputs), events around
// batches of calls lasting about 10 ms, for at least min_seconds in total.
double kernel_ms(const std::function<void(int)>& fn, double min_seconds) {
  const cudaStream_t stream = cuda::current_stream();
  cuda::Event start(true), stop(true);
  int call = 0;
  for (int i = 0; i < 3; ++i) fn(call++);
  start.record(stream);
  fn(call++);
  stop.record(stream);
  stop.synchronize();
  const double one = std::max<double>(start.elapsed_ms(stop), 1e-3);
  const int iters = std::clamp(static_cast<int>(10.0 / one), 3, 5000);
  std::vector<double> samples;
  double total = 0;
  while (samples.size() < 7 || (total < min_seconds * 1e3 && samples.size() < 200)) {
    start.record(stream);
    for (int i = 0; i < iters; ++i) fn(call++);
    stop.record(stream);
    stop.synchronize();
    const double ms = start.elapsed_ms(stop);
    samples.push_back(ms / iters);
    total += ms;
  }
  std::nth_element(samples.begin(), samples.begin() + samples.size() / 2, samples.end());
  return samples[samples.size() / 2];
}

// Copies of a tensor enough to exceed the L2 (at least 2, about 256 MB in all).
std::vector<Tensor> rotation(const std::function<Tensor(int)>& make, double bytes_each) {
  const int copies = std::clamp(static_cast<int>(256e6 / std::max(bytes_each, 1.0)) + 1, 2, 64);
  std::vector<Tensor> v;
  for (int i = 0; i < copies; ++i) v.push_back(make(i));
  return v;
}

Tensor rand_gpu(const Shape& shape, DType dtype, int seed) {
  Generator g(static_cast<uint64_t>(seed) + 1);
  return normal(shape, 0, 1, dtype, kGpu, &g);
}

class Report {
 public:
  explicit Report(double copy_gbs) : copy_gbs_(copy_gbs), table_({"kernel", "shape", "dtype", "MB moved", "us", "GB/s", "of copy"}) {}
  void add(const std::string& name, const std::string& shape, DType dtype, double bytes, double ms) {
    const double gbs = bytes / (ms * 1e-3) * 1e-9;
    table_.add({name, shape, dtype_name(dtype), fmt("%.1f", bytes * 1e-6), fmt("%.1f", ms * 1e3), fmt("%.0f", gbs),
                fmt("%.0f%%", 100.0 * gbs / copy_gbs_)});
  }
  void print() const { table_.print(); }

 private:
  double copy_gbs_;
  Table table_;
};

std::string shape_text(int64_t rows, int64_t cols) { return std::to_string(rows) + " x " + std::to_string(cols); }

// Device-to-device copy of 1 GiB: bytes read plus bytes written.
double copy_bandwidth(const Options& o) {
  const int64_t bytes = o.quick ? (int64_t{1} << 26) : (int64_t{1} << 30);
  void *a = nullptr, *b = nullptr;
  CORTEX_CUDA_CHECK(cudaMalloc(&a, bytes));
  CORTEX_CUDA_CHECK(cudaMalloc(&b, bytes));
  CORTEX_CUDA_CHECK(cudaMemset(a, 1, bytes));
  const cudaStream_t stream = cuda::current_stream();
  const double ms = kernel_ms([&](int) { CORTEX_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, stream)); },
                              o.min_seconds);
  CORTEX_CUDA_CHECK(cudaFree(a));
  CORTEX_CUDA_CHECK(cudaFree(b));
  return 2.0 * static_cast<double>(bytes) / (ms * 1e-3) * 1e-9;
}

void elementwise_rows(Report& r, const Options& o, int64_t rows, int64_t cols, DType dtype) {
  const double n = static_cast<double>(rows * cols), es = static_cast<double>(dtype_size(dtype));
  const std::string shape = shape_text(rows, cols);
  const auto a = rotation([&](int i) { return rand_gpu({rows, cols}, dtype, i); }, n * es);
  const auto b = rotation([&](int i) { return rand_gpu({rows, cols}, dtype, 100 + i); }, n * es);
  const Tensor bias = rand_gpu({cols}, dtype, 7);
  const Tensor bias_rows = bias.view_as_strided({rows, cols}, {0, 1}, 0);
  Tensor out = empty({rows, cols}, dtype, kGpu);
  Tensor mask = empty({rows, cols}, DType::boolean, kGpu);
  auto at = [](const std::vector<Tensor>& v, int i) -> const Tensor& { return v[static_cast<size_t>(i) % v.size()]; };
  const auto& binary = binary_kernel().get(kGpu);
  const auto& unary = unary_kernel().get(kGpu);
  r.add("add (a + b)", shape, dtype, 3 * n * es,
        kernel_ms([&](int i) { binary(BinaryOp::add, at(a, i), at(b, i), out); }, o.min_seconds));
  r.add("mul by a scalar", shape, dtype, 2 * n * es,
        kernel_ms([&](int i) { unary(UnaryOp::mul_scalar, at(a, i), 0.5, out); }, o.min_seconds));
  r.add("gelu", shape, dtype, 2 * n * es, kernel_ms([&](int i) { unary(UnaryOp::gelu, at(a, i), 0, out); }, o.min_seconds));
  r.add("gelu_backward", shape, dtype, 3 * n * es,
        kernel_ms([&](int i) { binary(BinaryOp::gelu_backward, at(a, i), at(b, i), out); }, o.min_seconds));
  r.add("bias add (row broadcast)", shape, dtype, 2 * n * es,
        kernel_ms([&](int i) { binary(BinaryOp::add, at(a, i), bias_rows, out); }, o.min_seconds));
  r.add("a > b (bool out)", shape, dtype, 2 * n * es + n,
        kernel_ms([&](int i) { binary(BinaryOp::gt, at(a, i), at(b, i), mask); }, o.min_seconds));
}

void row_kernels(Report& r, const Options& o, int64_t rows, int64_t cols, DType dtype) {
  const double n = static_cast<double>(rows * cols), es = static_cast<double>(dtype_size(dtype));
  const std::string shape = shape_text(rows, cols);
  const auto x = rotation([&](int i) { return rand_gpu({rows, cols}, dtype, i); }, n * es);
  const auto g = rotation([&](int i) { return rand_gpu({rows, cols}, dtype, 200 + i); }, n * es);
  auto at = [](const std::vector<Tensor>& v, int i) -> const Tensor& { return v[static_cast<size_t>(i) % v.size()]; };
  const Tensor w = rand_gpu({cols}, dtype, 5), b = rand_gpu({cols}, dtype, 6);
  Tensor y = empty({rows, cols}, dtype, kGpu), gx = empty({rows, cols}, dtype, kGpu);
  Tensor gw = empty({cols}, dtype, kGpu), gb = empty({cols}, dtype, kGpu);
  Tensor mean = empty({rows}, DType::f32, kGpu), rstd = empty({rows}, DType::f32, kGpu);

  r.add("softmax", shape, dtype, 2 * n * es,
        kernel_ms([&](int i) { softmax_kernel().get(kGpu)(at(x, i), y, false); }, o.min_seconds));
  r.add("log_softmax", shape, dtype, 2 * n * es,
        kernel_ms([&](int i) { softmax_kernel().get(kGpu)(at(x, i), y, true); }, o.min_seconds));
  r.add("softmax backward", shape, dtype, 3 * n * es,
        kernel_ms([&](int i) { softmax_backward_kernel().get(kGpu)(at(x, i), at(g, i), gx, false); }, o.min_seconds));
  r.add("rms_norm", shape, dtype, 2 * n * es + rows * 4.0,
        kernel_ms([&](int i) { rmsnorm_kernel().get(kGpu)(at(x, i), w, 1e-6, y, rstd); }, o.min_seconds));
  r.add("rms_norm backward (gx and gw)", shape, dtype, 3 * n * es + rows * 4.0,
        kernel_ms([&](int i) { rmsnorm_backward_kernel().get(kGpu)(at(x, i), w, rstd, at(g, i), gx, gw); },
                  o.min_seconds));
  r.add("layer_norm", shape, dtype, 2 * n * es + rows * 8.0,
        kernel_ms([&](int i) { layernorm_kernel().get(kGpu)(at(x, i), w, b, 1e-5, y, mean, rstd); }, o.min_seconds));
  r.add("layer_norm backward (gx, gw, gb)", shape, dtype, 3 * n * es + rows * 8.0,
        kernel_ms([&](int i) { layernorm_backward_kernel().get(kGpu)(at(x, i), w, mean, rstd, at(g, i), gx, gw, gb); },
                  o.min_seconds));
  Tensor row_sums = empty({rows, 1}, dtype, kGpu), col_sums = empty({1, cols}, dtype, kGpu);
  r.add("sum over the last dim", shape, dtype, n * es,
        kernel_ms([&](int i) { reduce_kernel().get(kGpu)(ReduceOp::sum, at(x, i), {1}, row_sums); }, o.min_seconds));
  r.add("sum over rows (bias gradient)", shape, dtype, n * es,
        kernel_ms([&](int i) { reduce_kernel().get(kGpu)(ReduceOp::sum, at(x, i), {0}, col_sums); }, o.min_seconds));
}

void embedding_backward(Report& r, const Options& o, int64_t tokens, int64_t vocab, int64_t dim, DType dtype) {
  Generator gen(3);
  const Tensor ids = randint({tokens}, 0, vocab, DType::i64, kGpu, &gen);
  const Tensor grad = rand_gpu({tokens, dim}, dtype, 4);
  Tensor table = zeros({vocab, dim}, dtype, kGpu);
  const double es = static_cast<double>(dtype_size(dtype));
  const double bytes = tokens * dim * es + 2.0 * std::min(tokens, vocab) * dim * es + tokens * 8.0;
  r.add("index_add (embedding backward, vocab " + std::to_string(vocab) + ")", shape_text(tokens, dim), dtype, bytes,
        kernel_ms([&](int) { index_add_kernel().get(kGpu)(table, 0, ids, grad); }, o.min_seconds));
}

void adamw(Report& r, const Options& o, int64_t params) {
  // A Cortex-sized list: f32 masters of bf16 weights in 48 tensors.
  const int count = 48;
  const int64_t each = params / count;
  std::vector<Tensor> p, g, m, v, copies;
  for (int i = 0; i < count; ++i) {
    p.push_back(rand_gpu({each}, DType::f32, i));
    g.push_back(rand_gpu({each}, DType::bf16, 100 + i));
    m.push_back(zeros({each}, DType::f32, kGpu));
    v.push_back(zeros({each}, DType::f32, kGpu));
    copies.push_back(empty({each}, DType::bf16, kGpu));
  }
  // Reads p, g, m, v; writes p, m, v and the bf16 copy.
  const double bytes = static_cast<double>(each) * count * (4 + 2 + 4 + 4 + 4 + 4 + 4 + 2);
  int64_t step = 0;
  r.add("adamw (48 tensors, f32 master + bf16 copy)", std::to_string(each * count) + " params", DType::f32, bytes,
        kernel_ms(
            [&](int) {
              adamw_kernel().get(kGpu)(p, g, m, v, copies, AdamWHyper{1e-4, 0.9, 0.999, 1e-8, 0.1, ++step});
            },
            o.min_seconds));
}

void run_gpu_kernels(const Options& o) {
  CORTEX_CHECK(cuda::device_count() > 0, "cortex-bench gpu-kernels", "no CUDA device visible");
  NoGradGuard no_grad;
  cudaDeviceProp prop{};
  CORTEX_CUDA_CHECK(cudaGetDeviceProperties(&prop, cuda::current_device()));
  const double copy_gbs = copy_bandwidth(o);
  std::printf("Card: %s (%d SMs, %.0f MB L2). Device-to-device copy (cudaMemcpyAsync, read + write): %.0f GB/s; "
              "\"of copy\" is each kernel's bandwidth over this.\n\n",
              prop.name, prop.multiProcessorCount, prop.l2CacheSize / 1e6, copy_gbs);
  Report report(copy_gbs);
  const int64_t rows = 64 * 256;
  for (int64_t cols : {int64_t{512}, int64_t{1536}})
    for (DType dtype : {DType::bf16, DType::f32}) elementwise_rows(report, o, rows, cols, dtype);
  for (int64_t cols : {int64_t{512}, int64_t{1536}})
    for (DType dtype : {DType::bf16, DType::f32}) row_kernels(report, o, rows, cols, dtype);
  if (!o.quick) row_kernels(report, o, 64 * 1024, 1536, DType::bf16);
  embedding_backward(report, o, rows, 512, 512, DType::f32);
  embedding_backward(report, o, rows, 32000, 512, DType::f32);
  adamw(report, o, o.quick ? 4'800'000 : 48'000'000);
  report.print();
}

}  // namespace

CORTEX_BENCH_SECTION("gpu-kernels", "CUDA memory-bound kernels: GB/s against the device copy bandwidth", run_gpu_kernels);

}  // namespace cortex::bench
#endif  // CORTEX_WITH_CUDA
