// The ops a captured Cortex forward uses to turn uploaded inputs into tensors without the host:
// outer_cos_sin (rotary angles of f64 times) and embedding_trusted (no host read of the ids),
// on the GPU against the CPU, and both inside a CUDA graph replayed with new inputs.
#include <cmath>
#include <tuple>

#include "autograd/grad_mode.h"
#include "tests/cuda/test_kernels_util.h"
#ifdef CORTEX_WITH_CUDA
#include "cuda/graph.h"
#endif

using namespace cortex;
using namespace cortex::test;

namespace {

std::vector<double> frequencies(int64_t f) {
  std::vector<double> w;
  for (int64_t k = 0; k < f; ++k) w.push_back(2 * M_PI / std::pow(10.0, 4.0 * double(k) / double(f)));
  return w;
}

}  // namespace

CORTEX_GPU_TEST("cuda outer_cos_sin matches the CPU kernel for times up to an hour") {
  for (int64_t n : {1, 3, 17, 129, 4097})
    for (int64_t f : {1, 3, 16})
      for (DType dtype : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
        INFO("N=", n, " F=", f, " ", dtype_name(dtype));
        const Tensor t = random_uniform({n}, 50 + n, -10.0, 3.6e6);
        const Tensor w = from_vector(frequencies(f), {f});
        const auto [c_cpu, s_cpu] = outer_cos_sin(t, w, dtype);
        const auto [c, s] = outer_cos_sin(to_gpu(t), to_gpu(w), dtype);
        CHECK(c.device() == gpu());
        // CUDA's f64 sin/cos are within 2 ulp of the CPU's: after rounding to f32 or 16 bits at
        // most one unit of the result's last place apart, in f64 within 1e-15.
        const double tol =
            dtype == DType::f64 ? 1e-15 : dtype == DType::f32 ? 1.2e-7 : dtype == DType::bf16 ? 8e-3 : 1e-3;
        expect_close(c, c_cpu, 0, tol, "cos");
        expect_close(s, s_cpu, 0, tol, "sin");
      }
}

CORTEX_GPU_TEST("cuda embedding_trusted equals embedding") {
  NoGradGuard no_grad;
  for (DType id_dtype : {DType::i32, DType::i64})
    for (int64_t n : kAwkwardSizes) {
      INFO(dtype_name(id_dtype), " n=", n);
      Generator g(60 + n);
      const Tensor ids = randint({n}, 0, 129, id_dtype, Device::cpu(), &g);
      const Tensor table = random({129, 17}, 61, DType::f32);
      const Tensor got = embedding_trusted(to_gpu(ids), to_gpu(table));
      CHECK(values(got) == values(embedding(ids, table)));
    }
}

#ifdef CORTEX_WITH_CUDA
CORTEX_GPU_TEST("cuda outer_cos_sin and embedding_trusted replay inside a captured graph") {
  NoGradGuard no_grad;
  const int64_t n = 37, f = 16;
  const Tensor t_static = zeros({n}, DType::f64, gpu()), ids_static = zeros({n}, DType::i64, gpu());
  const Tensor w = to_gpu(from_vector(frequencies(f), {f})), table = to_gpu(random({50, 8}, 70, DType::f32));
  Tensor c_static, s_static, rows_static;
  cuda::Graph graph;
  graph.capture([&] {
    std::tie(c_static, s_static) = outer_cos_sin(t_static, w, DType::f32);
    rows_static = embedding_trusted(ids_static, table);
  });
  for (uint64_t seed : {71, 72, 73}) {
    const Tensor t = random_uniform({n}, seed, 0.0, 1e5);
    Generator g(seed);
    const Tensor ids = randint({n}, 0, 50, DType::i64, Device::cpu(), &g);
    copy_(t_static, t);
    copy_(ids_static, ids);
    fill_(c_static, NAN);
    fill_(rows_static, NAN);
    graph.replay();
    const auto [c, s] = outer_cos_sin(t, data_to_device(w, Device::cpu()), DType::f32);
    expect_close(c_static, c, 0, 1.2e-7, "cos replay");
    expect_close(s_static, s, 0, 1.2e-7, "sin replay");
    CHECK(values(rows_static) == values(embedding(ids, data_to_device(table, Device::cpu()))));
  }
}
#endif  // CORTEX_WITH_CUDA
