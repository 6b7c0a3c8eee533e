// CUDA copy, fill and random kernels against the CPU kernels; outputs are poisoned first.
#ifdef CORTEX_WITH_CUDA
#include <cstring>

#include "cuda/caching_allocator.h"
#include "cuda/graph.h"
#include "cuda/host_upload.h"
#include "cuda/pinned_pool.h"
#include "cuda/runtime.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

const DType kAllDTypes[] = {DType::f32, DType::f64, DType::bf16, DType::f16, DType::i8,
                            DType::u8,  DType::boolean, DType::i32, DType::i64};

// Small integers, which every dtype holds exactly; non-negative when they will be converted
// from floating point to u8 (negative floats to unsigned is undefined in C++).
Tensor exact_values(const Shape& shape, uint64_t seed, bool non_negative) {
  Generator g(seed);
  return randint(shape, non_negative ? 0 : -8, 9, DType::f64, Device::cpu(), &g);
}

// Raw bytes of a tensor's elements in row-major order, via the CPU.
std::vector<unsigned char> bytes_of(const Tensor& t) {
  Tensor host = contiguous_copy(data_to_device(t, Device::cpu()));
  const auto* p = static_cast<const unsigned char*>(host.data_ptr());
  return std::vector<unsigned char>(p, p + host.nbytes());
}

// A view of `shape` with a permuted, gapped layout in a larger buffer, poisoned with `poison`.
Tensor strided_view(const Shape& shape, DType dtype, Device device, double poison) {
  // Stored as [shape[1]+1, shape[0]] transposed, so rows are strided and there is padding.
  REQUIRE(shape.size() == 2);
  Tensor storage = full({shape[1] + 1, shape[0] * 2}, poison, dtype, device);
  return storage.view_as_strided(shape, {1, shape[0] * 2}, 1);
}

}  // namespace

CORTEX_GPU_TEST("cuda copy: every dtype pair, host<->device and device<->device, contiguous and strided") {
  for (int64_t rows : {1, 3, 17}) {
    for (int64_t cols : {1, 129}) {
      const Shape shape{rows, cols};
      for (DType from : kAllDTypes) {
        for (DType to : kAllDTypes) {
          const std::string context = detail::concat(dtype_name(from), " -> ", dtype_name(to), " shape ", shape_str(shape));
          INFO(context);
          const bool non_negative = to == DType::u8 && is_floating(from);
          const Tensor src_cpu = data_to_dtype(exact_values(shape, 100 + rows * 7 + cols, non_negative), from);
          const Tensor src_gpu = data_to_device(src_cpu, gpu());
          const Tensor src_gpu_strided = noncontiguous(src_gpu);
          Tensor expected = empty(shape, to);
          copy_(expected, src_cpu);  // the CPU kernel is the reference
          const auto want = bytes_of(expected);

          Tensor h2d = full(shape, 77, to, gpu());  // host -> device, contiguous
          copy_(h2d, src_cpu);
          CHECK(bytes_of(h2d) == want);
          Tensor h2d_strided = strided_view(shape, to, gpu(), 77);  // host -> strided device
          copy_(h2d_strided, noncontiguous(src_cpu));
          CHECK(bytes_of(h2d_strided) == want);
          Tensor d2h = full(shape, 77, to);  // device -> host, both layouts
          copy_(d2h, src_gpu);
          CHECK(bytes_of(d2h) == want);
          Tensor d2h_strided = strided_view(shape, to, Device::cpu(), 77);
          copy_(d2h_strided, src_gpu_strided);
          CHECK(bytes_of(d2h_strided) == want);
          Tensor d2d = full(shape, 77, to, gpu());  // device -> device with conversion
          copy_(d2d, src_gpu_strided);
          CHECK(bytes_of(d2d) == want);
          Tensor d2d_strided = strided_view(shape, to, gpu(), 77);
          copy_(d2d_strided, src_gpu);
          CHECK(bytes_of(d2d_strided) == want);
        }
      }
    }
  }
}

CORTEX_GPU_TEST("cuda copy: random floats, broadcast sources, many dims and scalars") {
  // Rounding of random values in f32 -> bf16/f16 matches the CPU bit for bit.
  const Tensor x = random({129, 17}, 3, DType::f32);
  for (DType to : {DType::bf16, DType::f16, DType::f64, DType::i32}) {
    Tensor want = empty({129, 17}, to);
    copy_(want, x);
    Tensor got = full({129, 17}, 9, to, gpu());
    copy_(got, data_to_device(x, gpu()));
    CHECK(bytes_of(got) == bytes_of(want));
  }
  // A zero-stride (expanded) source.
  const Tensor row = data_to_device(random({1, 17}, 4, DType::f32), gpu());
  const Tensor expanded = row.view_as_strided({33, 17}, {0, 1}, 0);
  Tensor out = full({33, 17}, -5, DType::f32, gpu());
  copy_(out, expanded);
  CHECK(bytes_of(out) == bytes_of(data_to_device(row, Device::cpu()).view_as_strided({33, 17}, {0, 1}, 0)));
  // Six dims, permuted.
  const Tensor six = data_to_device(random({2, 3, 1, 4, 5, 3}, 5, DType::f64), gpu());
  const Tensor permuted = six.view_as_strided({3, 2, 5, 1, 4, 3}, {60, 180, 3, 60, 15, 1}, 0);
  Tensor dense = full(permuted.shape(), 1e9, DType::f32, gpu());
  copy_(dense, permuted);
  Tensor want6 = empty(permuted.shape(), DType::f32);
  copy_(want6, data_to_device(six, Device::cpu()).view_as_strided(permuted.shape(), permuted.strides(), 0));
  CHECK(bytes_of(dense) == bytes_of(want6));
  // Scalars both ways.
  Tensor s = scalar_tensor(2.5, DType::bf16, gpu());
  CHECK(s.item() == 2.5);
  Tensor s64 = scalar_tensor(0, DType::f64, gpu());
  copy_(s64, s);
  CHECK(s64.item() == 2.5);
}

CORTEX_GPU_TEST("cuda copy: host staging goes through the pinned pool, which reuses its buffers") {
  auto& pool = cuda::PinnedPool::instance();
  const Tensor src = noncontiguous(random({257, 31}, 8, DType::f32));
  Tensor dst = full({257, 31}, 0, DType::f32, gpu());
  copy_(dst, src);  // non-contiguous host side: packed into pinned memory
  const uint64_t allocs = pool.stats().host_alloc_count;
  for (int i = 0; i < 5; ++i) {
    CORTEX_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));  // the last copy is done: its buffer is free
    copy_(dst, src);
  }
  CHECK(pool.stats().host_alloc_count == allocs);
  CHECK(pool.stats().in_use_bytes == 0);
  CHECK(bytes_of(dst) == bytes_of(contiguous_copy(src)));
  CHECK(cuda::PinnedPool::size_class(1) == 64 << 10);
  CHECK(cuda::PinnedPool::size_class((64 << 10) + 1) == 128 << 10);
  CHECK(cuda::PinnedPool::size_class((size_t(100) << 20) + 1) == size_t(112) << 20);
}

CORTEX_GPU_TEST("cuda upload_async: a copy-stream upload is ordered before later work on the current stream") {
  cuda::Stream copy_stream;
  const Tensor w = uniform({4096, 4096}, -1, 1, DType::bf16, gpu());
  for (int i = 0; i < 3; ++i) matmul(w, w);  // the current stream is busy for a while
  Tensor host = noncontiguous(random({129, 17}, 10, DType::f32));
  const std::vector<double> expected = values(host);
  const Tensor dev = cuda::upload_async(host, gpu(), copy_stream);
  fill_(host, 0.0);  // the host side may change as soon as upload_async returns
  const Tensor back = contiguous_copy(dev);  // on the current stream
  CHECK(values(back) == expected);
  CHECK(dev.device() == gpu());
  CHECK_THROWS_AS(cuda::upload_async(dev, gpu(), copy_stream), Error);
}

CORTEX_GPU_TEST("cuda copy: host copies are refused while capturing a graph") {
  const Tensor host = random({16}, 9, DType::f32);
  Tensor dev = zeros({16}, DType::f32, gpu());
  cuda::Graph graph;
  CHECK_THROWS_AS(graph.capture([&] { copy_(dev, host); }, 0), Error);
  CHECK_FALSE(graph.captured());
  // The device is fine afterwards.
  copy_(dev, host);
  CHECK(values(dev) == values(host));
}

CORTEX_GPU_TEST("cuda fill: every dtype, strided views, zero and non-zero values") {
  for (DType dtype : kAllDTypes) {
    for (double value : {0.0, 1.0, -3.0, 2.5}) {
      const std::string context = detail::concat(dtype_name(dtype), " value ", value);
      INFO(context);
      Tensor want = full({17, 129}, 55, dtype);
      fill_(want.view_as_strided({17, 64}, {129, 2}, 1), value);
      Tensor got = full({17, 129}, 55, dtype, gpu());
      fill_(got.view_as_strided({17, 64}, {129, 2}, 1), value);
      CHECK(bytes_of(got) == bytes_of(want));
      Tensor dense = full({3, 17}, 55, dtype, gpu());
      fill_(dense, value);
      CHECK(bytes_of(dense) == bytes_of(full({3, 17}, value, dtype)));
    }
  }
}

CORTEX_GPU_TEST("cuda random: uniform, bernoulli and randint match the CPU bit for bit; normal to 1e-5") {
  for (int64_t n : {int64_t(1), int64_t(3), int64_t(17), int64_t(129), int64_t(100003)}) {
    for (DType dtype : {DType::f32, DType::f64, DType::bf16, DType::f16}) {
      const std::string context = detail::concat("n ", n, " ", dtype_name(dtype));
      INFO(context);
      Generator cpu_gen(4242), gpu_gen(4242);
      const Tensor u_cpu = uniform({n}, -2, 3, dtype, Device::cpu(), &cpu_gen);
      const Tensor u_gpu = uniform({n}, -2, 3, dtype, gpu(), &gpu_gen);
      CHECK(bytes_of(u_gpu) == bytes_of(u_cpu));
      const Tensor b_cpu = bernoulli({n}, 0.3, dtype, Device::cpu(), &cpu_gen);
      const Tensor b_gpu = bernoulli({n}, 0.3, dtype, gpu(), &gpu_gen);
      CHECK(bytes_of(b_gpu) == bytes_of(b_cpu));
      const Tensor z_cpu = normal({n}, 0.5, 2.0, dtype, Device::cpu(), &cpu_gen);
      const Tensor z_gpu = normal({n}, 0.5, 2.0, dtype, gpu(), &gpu_gen);
      if (dtype == DType::f32 || dtype == DType::f64) {
        expect_close(z_gpu, z_cpu, 1e-5, 1e-5, "normal");
      } else {
        // A few-ulp difference in f32 may round to the neighbouring 16-bit value.
        expect_close(z_gpu, z_cpu, dtype == DType::bf16 ? 8e-3 : 2e-3, 1e-5, "normal (16-bit)");
      }
    }
    for (DType dtype : {DType::i64, DType::i32, DType::f32, DType::i8}) {
      Generator cpu_gen(77), gpu_gen(77);
      const Tensor r_cpu = randint({n}, -5, 100, dtype, Device::cpu(), &cpu_gen);
      const Tensor r_gpu = randint({n}, -5, 100, dtype, gpu(), &gpu_gen);
      CHECK(bytes_of(r_gpu) == bytes_of(r_cpu));
    }
  }
  // Large ranges use the whole 64-bit word.
  Generator cpu_gen(5), gpu_gen(5);
  const Tensor big_cpu = randint({1000}, -(int64_t(1) << 40), int64_t(1) << 41, DType::i64, Device::cpu(), &cpu_gen);
  const Tensor big_gpu = randint({1000}, -(int64_t(1) << 40), int64_t(1) << 41, DType::i64, gpu(), &gpu_gen);
  CHECK(bytes_of(big_gpu) == bytes_of(big_cpu));
}

CORTEX_GPU_TEST("cuda random: the output is written everywhere (poisoned buffer)") {
  // random_kernel writes into a fresh tensor; poison the memory it will reuse first.
  { Tensor poison = full({4096}, std::nan(""), DType::f32, gpu()); }
  Generator g(1);
  const Tensor u = uniform({4096}, 0, 1, DType::f32, gpu(), &g);
  for (float v : u.to_vector<float>()) {
    REQUIRE(v >= 0.0f);
    REQUIRE(v < 1.0f);
  }
}

#endif  // CORTEX_WITH_CUDA
