// CUDA graphs: a captured forward pass replays to the eager result, its memory comes from a
// private pool that lives with the graph, and forbidden work during capture is an error.
#ifdef CORTEX_WITH_CUDA
#include "autograd/grad_mode.h"
#include "cuda/caching_allocator.h"
#include "cuda/gemm.h"
#include "cuda/graph.h"
#include "cuda/runtime.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

struct TinyMlp {
  int64_t d = 64, hidden = 256;
  Tensor w1 = random({64, 256}, 1, DType::f32, gpu(), 0.1);
  Tensor b1 = random({256}, 2, DType::f32, gpu());
  Tensor w2 = random({256, 64}, 3, DType::f32, gpu(), 0.1);

  // x [B, T, d] -> gelu(x @ w1 + b1) @ w2, returned as [B, d, T] (a strided copy).
  Tensor forward(const Tensor& x) const {
    const int64_t rows = x.size(0) * x.size(1);
    Tensor h = empty({rows, hidden}, DType::f32, gpu());
    cuda::GemmParams p;
    p.m = rows;
    p.n = hidden;
    p.k = d;
    p.a = {x.data_ptr(), d, 0, false};
    p.b = {w1.data_ptr(), hidden, 0, false};
    p.c = h.data_ptr();
    p.ldc = hidden;
    p.epilogue = cuda::GemmEpilogue::bias_gelu;
    p.bias = b1.data_ptr();
    cuda::gemm(p);
    const Tensor y = matmul(h, w2).view_as_strided({x.size(0), x.size(1), d}, {x.size(1) * d, d, 1}, 0);
    Tensor out = empty({x.size(0), d, x.size(1)}, DType::f32, gpu());
    copy_(out, transpose_data(y, 1, 2));
    return out;
  }
};

}  // namespace

CORTEX_GPU_TEST("cuda graph: replays equal the eager forward pass for new inputs") {
  NoGradGuard no_grad;
  cuda::set_allow_tf32(false);
  const TinyMlp mlp;
  for (int64_t batch : {1, 8}) {
    INFO("batch ", batch);
    const Tensor x_static = zeros({batch, 17, 64}, DType::f32, gpu());
    Tensor out_static;
    cuda::Graph graph;
    graph.capture([&] { out_static = mlp.forward(x_static); });
    REQUIRE(graph.captured());
    CHECK(graph.num_nodes() >= 3);
    for (uint64_t seed : {10, 11, 12}) {
      const Tensor x = random({batch, 17, 64}, seed + batch, DType::f32, gpu());
      copy_(x_static, x);
      fill_(out_static, std::nan(""));  // poison: the replay must write every element
      graph.replay();
      const Tensor eager = mlp.forward(x);
      expect_close(out_static, eager, 1e-6, 1e-6, "replay vs eager");
    }
  }
}

CORTEX_GPU_TEST("cuda graph: capture memory comes from a private pool released with the graph") {
  NoGradGuard no_grad;
  const TinyMlp mlp;
  const Tensor x_static = random({4, 17, 64}, 20, DType::f32, gpu());
  mlp.forward(x_static);  // plans and eager blocks exist before measuring
  cuda::empty_cache();
  const auto before = cuda::allocator_stats(0);
  {
    Tensor out_static;
    cuda::Graph graph;
    graph.capture([&] { out_static = mlp.forward(x_static); }, 0);
    CHECK(graph.pool() != 0);
    const auto during = cuda::allocator_stats(0);
    CHECK(during.reserved_bytes > before.reserved_bytes);
    // Intermediates freed during capture were reused inside the pool: a few segments at most.
    CHECK(during.cuda_malloc_count - before.cuda_malloc_count <= 3);
    graph.replay();
    const Tensor eager = mlp.forward(x_static);
    expect_close(out_static, eager, 1e-6, 1e-6, "replay vs eager");
  }
  cuda::empty_cache();
  CHECK(cuda::allocator_stats(0).reserved_bytes == before.reserved_bytes);
}

CORTEX_GPU_TEST("cuda graph: synchronising inside a capture is an error and leaves the device usable") {
  NoGradGuard no_grad;
  Tensor x = zeros({8}, DType::f32, gpu());
  cuda::Graph graph;
  auto synchronising = [&] {
    fill_(x, 1.0);
    CORTEX_CUDA_CHECK(cudaStreamSynchronize(cuda::current_stream()));
  };
  CHECK_THROWS_AS(graph.capture(synchronising, 0), Error);
  CHECK_FALSE(graph.captured());
  CHECK_THROWS_AS(graph.replay(), Error);
  const Tensor y = full({8}, 2.0, DType::f32, gpu());
  CHECK(values(y) == std::vector<double>(8, 2.0));
}

#endif  // CORTEX_WITH_CUDA
