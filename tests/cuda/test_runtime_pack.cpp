// Host-side packing into staging buffers (no GPU needed).
#ifdef CORTEX_WITH_CUDA
#include "cuda/pinned_pool.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

TEST_CASE("pack_host: contiguous same-dtype sources are copied exactly, in parallel chunks when large") {
  for (int64_t n : {int64_t(1), int64_t(129), int64_t(3) << 20}) {  // the last is 12 MiB: three chunks
    const Tensor src = random_uniform({n}, 5 + n, -1, 1, DType::f32);
    std::vector<float> buffer(static_cast<size_t>(n), -7.0f);
    const Tensor dst = cuda::host_tensor_view(buffer.data(), {n}, DType::f32);
    cuda::pack_host(dst, src);
    CHECK(values(dst) == values(src));
  }
}

TEST_CASE("pack_host: strided sources and dtype changes go through the CPU copy kernel") {
  const Tensor src = noncontiguous(random({17, 129}, 6, DType::f64));
  std::vector<uint16_t> buffer(17 * 129, 0xFFFF);
  const Tensor dst = cuda::host_tensor_view(buffer.data(), {17, 129}, DType::bf16);
  cuda::pack_host(dst, src);
  Tensor want = empty({17, 129}, DType::bf16);
  copy_(want, src);
  CHECK(values(dst) == values(want));
  CHECK_THROWS_AS(cuda::pack_host(noncontiguous(want), src), Error);
}

#endif  // CORTEX_WITH_CUDA
