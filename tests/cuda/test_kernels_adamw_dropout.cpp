// The fused multi-tensor CUDA AdamW against the CPU kernel (mixed dtypes, master weights
// with 16-bit model copies, more tensors and blocks than one launch holds), and dropout
// masks: the same seed gives the same mask on the CPU and the GPU.
#include "ops/nn_ops.h"
#include "tests/cuda/test_kernels_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

struct AdamWLists {
  std::vector<Tensor> params, grads, m, v, copies;
};

AdamWLists to_device(const AdamWLists& l, Device d) {
  AdamWLists out;
  auto move = [&](const std::vector<Tensor>& from, std::vector<Tensor>& to) {
    for (const Tensor& t : from) to.push_back(t.defined() ? contiguous_copy(data_to_device(t, d)) : Tensor());
  };
  move(l.params, out.params);
  move(l.grads, out.grads);
  move(l.m, out.m);
  move(l.v, out.v);
  move(l.copies, out.copies);
  return out;
}

}  // namespace

CORTEX_GPU_TEST("cuda adamw kernel: one fused launch matches the CPU for mixed dtypes and master weights") {
  AdamWLists cpu;
  uint64_t seed = 1;
  auto add = [&](const Shape& shape, DType param, DType grad, DType copy) {
    const DType state = param == DType::f64 ? DType::f64 : DType::f32;
    cpu.params.push_back(random(shape, seed++, param));
    cpu.grads.push_back(random(shape, seed++, grad, Device::cpu(), 0.1));
    cpu.m.push_back(data_to_dtype(random(shape, seed++, DType::f64, Device::cpu(), 0.01), state));
    cpu.v.push_back(data_to_dtype(random_uniform(shape, seed++, 0.0, 0.01), state));
    cpu.copies.push_back(copy == DType::boolean ? Tensor() : full(shape, NAN, copy));
  };
  // DType::boolean marks "no model copy".
  add({1}, DType::f32, DType::f32, DType::boolean);
  add({17}, DType::f32, DType::bf16, DType::boolean);
  add({3, 129}, DType::f64, DType::f64, DType::boolean);
  add({4097}, DType::bf16, DType::bf16, DType::boolean);
  add({1000}, DType::f16, DType::f32, DType::boolean);
  add({129, 17}, DType::f32, DType::bf16, DType::bf16);  // f32 master of a bf16 weight
  add({6000000}, DType::f32, DType::bf16, DType::bf16);  // more chunks than one launch takes
  for (int i = 0; i < 40; ++i) add({33 + i}, DType::f32, DType::f32, i % 2 ? DType::bf16 : DType::boolean);

  AdamWLists gpu_lists = to_device(cpu, gpu());
  for (int64_t step : {1, 7}) {
    const AdamWHyper h{1e-3, 0.9, 0.999, 1e-8, 0.1, step};
    adamw_kernel().get(Device::cpu())(cpu.params, cpu.grads, cpu.m, cpu.v, cpu.copies, h);
    adamw_kernel().get(gpu())(gpu_lists.params, gpu_lists.grads, gpu_lists.m, gpu_lists.v, gpu_lists.copies, h);
    for (size_t i = 0; i < cpu.params.size(); ++i) {
      INFO("tensor ", i, " ", cpu.params[i].describe(), " step ", step);
      const DType pt = cpu.params[i].dtype();
      expect_close(gpu_lists.params[i], cpu.params[i], rtol_for(pt), atol_for(pt), "param");
      expect_close(gpu_lists.m[i], cpu.m[i], rtol_for(cpu.m[i].dtype()), atol_for(cpu.m[i].dtype()), "exp_avg");
      expect_close(gpu_lists.v[i], cpu.v[i], rtol_for(cpu.v[i].dtype()), atol_for(cpu.v[i].dtype()), "exp_avg_sq");
      if (cpu.copies[i].defined()) expect_close(gpu_lists.copies[i], cpu.copies[i], 1e-2, 1e-2, "model copy");
    }
  }
  // Bad lists are errors naming what is wrong, as on the CPU.
  const AdamWHyper h{1e-3, 0.9, 0.999, 1e-8, 0.1, 1};
  CHECK_THROWS_WITH_AS(adamw_kernel().get(gpu())({gpu_lists.params[0]}, {gpu_lists.grads[0]}, {gpu_lists.m[0]}, {}, {}, h),
                       doctest::Contains("list lengths differ"), Error);
  CHECK_THROWS_WITH_AS(adamw_kernel().get(gpu())({gpu_lists.params[0]}, {gpu_lists.grads[0]}, {gpu_lists.m[1]},
                                                 {gpu_lists.v[0]}, {}, h),
                       doctest::Contains("exp_avg 0 must be contiguous f32[1]"), Error);
}

CORTEX_GPU_TEST("cuda dropout: the same seed gives the same mask on the CPU and the GPU") {
  for (DType dtype : {DType::f32, DType::bf16}) {
    for (int64_t n : {1, 17, 4097, 100003}) {
      const Tensor x = random({n}, 60 + n, dtype);
      Generator cpu_gen(1234), gpu_gen(1234);
      const Tensor a = dropout(x, 0.3, true, &cpu_gen);
      const Tensor b = dropout(to_gpu(x), 0.3, true, &gpu_gen);
      INFO(dname(dtype), " n ", n);
      CHECK(values(a) == values(b));
      // A second draw from each generator moves on to a new mask, again equal.
      const Tensor a2 = dropout(x, 0.3, true, &cpu_gen), b2 = dropout(to_gpu(x), 0.3, true, &gpu_gen);
      CHECK(values(a2) == values(b2));
      if (n > 1000) CHECK(values(a2) != values(a));
    }
  }
}
