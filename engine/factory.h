#pragma once
// Creating tensors and moving them between devices and dtypes. Nothing here records
// autograd history.
#include <vector>

#include "engine/dispatch.h"
#include "engine/generator.h"
#include "engine/tensor.h"

namespace cortex {

struct TensorOptions {
  DType dtype = DType::f32;
  Device device = Device::cpu();
};

Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor empty_like(const Tensor& t);
Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);
Tensor scalar_tensor(double value, DType dtype = DType::f32, Device device = Device::cpu());
// 0, 1, ..., n-1
Tensor arange(int64_t n, DType dtype = DType::i64, Device device = Device::cpu());

// Host values copied into a new tensor of the given shape (numel must match).
template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
// Host values converted to another dtype on the way.
Tensor from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype = DType::f32,
                    Device device = Device::cpu());

// Random tensors from the Philox stream of `gen` (the default generator when null).
Tensor rand(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(), Generator* gen = nullptr);
Tensor uniform(const Shape& shape, double low, double high, DType dtype = DType::f32, Device device = Device::cpu(),
               Generator* gen = nullptr);
Tensor randn(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu(), Generator* gen = nullptr);
Tensor normal(const Shape& shape, double mean, double stddev, DType dtype = DType::f32, Device device = Device::cpu(),
              Generator* gen = nullptr);
// 1 with probability p, else 0, in `dtype`.
Tensor bernoulli(const Shape& shape, double p, DType dtype = DType::f32, Device device = Device::cpu(),
                 Generator* gen = nullptr);
// Integers uniform in [low, high).
Tensor randint(const Shape& shape, int64_t low, int64_t high, DType dtype = DType::i64, Device device = Device::cpu(),
               Generator* gen = nullptr);

// Element-wise copy with dtype conversion between any views of equal shape, across devices.
// dst must not overlap src. Not differentiable (it writes into dst).
void copy_(const Tensor& dst, const Tensor& src);
// Fills a view with one value.
void fill_(const Tensor& dst, double value);

// Conversions of the data alone, no autograd history (the differentiable ones are
// cortex::to and cortex::contiguous in ops/).
Tensor contiguous_copy(const Tensor& t);  // always a fresh contiguous tensor
Tensor data_to_device(const Tensor& t, Device device);  // returns t itself when already there
Tensor data_to_dtype(const Tensor& t, DType dtype);      // returns t itself when already that dtype
Tensor data_contiguous(const Tensor& t);                 // returns t itself when already contiguous

// ---- kernels that back the functions above ----
enum class RandomKind : uint8_t { uniform, normal, bernoulli, randint };
CORTEX_KERNEL_TABLE(copy_kernel, void(const Tensor& dst, const Tensor& src));
CORTEX_KERNEL_TABLE(fill_kernel, void(const Tensor& dst, double value));
// a, b: (low, high) for uniform/randint, (mean, std) for normal, (p, -) for bernoulli.
CORTEX_KERNEL_TABLE(random_kernel,
                    void(const Tensor& dst, RandomKind kind, double a, double b, Generator::Draw draw));

}  // namespace cortex
