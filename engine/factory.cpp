#include "engine/factory.h"

namespace cortex {

Tensor empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t s : shape) CORTEX_CHECK(s >= 0, "empty", "negative size in shape ", shape_str(shape));
  const size_t nbytes = static_cast<size_t>(shape_numel(shape)) * dtype_size(dtype);
  auto storage = std::make_shared<StorageImpl>(nbytes, device);
  return Tensor(std::make_shared<TensorImpl>(std::move(storage), shape, contiguous_strides(shape), 0, dtype));
}

Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  fill_(t, value);
  return t;
}
Tensor zeros(const Shape& shape, DType dtype, Device device) { return full(shape, 0.0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return full(shape, 1.0, dtype, device); }
Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
Tensor scalar_tensor(double value, DType dtype, Device device) { return full({}, value, dtype, device); }

Tensor arange(int64_t n, DType dtype, Device device) {
  CORTEX_CHECK(n >= 0, "arange", "negative length ", n);
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<double>(i);
  return from_doubles(v, {n}, dtype, device);
}

template <typename T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  CORTEX_CHECK(static_cast<int64_t>(values.size()) == shape_numel(shape), "from_vector", values.size(),
               " values do not fill shape ", shape_str(shape));
  Tensor host = empty(shape, dtype_of<T>::value, Device::cpu());
  if (!values.empty()) std::copy(values.begin(), values.end(), static_cast<T*>(host.data_ptr()));
  return data_to_device(host, device);
}
template Tensor from_vector<float>(const std::vector<float>&, const Shape&, Device);
template Tensor from_vector<double>(const std::vector<double>&, const Shape&, Device);
template Tensor from_vector<int32_t>(const std::vector<int32_t>&, const Shape&, Device);
template Tensor from_vector<int64_t>(const std::vector<int64_t>&, const Shape&, Device);
template Tensor from_vector<uint8_t>(const std::vector<uint8_t>&, const Shape&, Device);
template Tensor from_vector<int8_t>(const std::vector<int8_t>&, const Shape&, Device);
template Tensor from_vector<bfloat16>(const std::vector<bfloat16>&, const Shape&, Device);
template Tensor from_vector<float16>(const std::vector<float16>&, const Shape&, Device);

Tensor from_doubles(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  Tensor d = from_vector(values, shape, Device::cpu());
  return data_to_device(data_to_dtype(d, dtype), device);
}

namespace {
Tensor random_tensor(const Shape& shape, DType dtype, Device device, Generator* gen, RandomKind kind, double a,
                     double b) {
  Tensor t = empty(shape, dtype, device);
  Generator& g = gen ? *gen : default_generator();
  random_kernel().get(device)(t, kind, a, b, g.next());
  return t;
}
void check_floating(DType dtype, const char* op) {
  CORTEX_CHECK(is_floating(dtype), op, "expected a floating dtype, got ", dtype_name(dtype));
}
}  // namespace

Tensor rand(const Shape& shape, DType dtype, Device device, Generator* gen) {
  return uniform(shape, 0.0, 1.0, dtype, device, gen);
}
Tensor uniform(const Shape& shape, double low, double high, DType dtype, Device device, Generator* gen) {
  check_floating(dtype, "uniform");
  CORTEX_CHECK(low <= high, "uniform", "low ", low, " > high ", high);
  return random_tensor(shape, dtype, device, gen, RandomKind::uniform, low, high);
}
Tensor randn(const Shape& shape, DType dtype, Device device, Generator* gen) {
  return normal(shape, 0.0, 1.0, dtype, device, gen);
}
Tensor normal(const Shape& shape, double mean, double stddev, DType dtype, Device device, Generator* gen) {
  check_floating(dtype, "normal");
  CORTEX_CHECK(stddev >= 0, "normal", "negative standard deviation ", stddev);
  return random_tensor(shape, dtype, device, gen, RandomKind::normal, mean, stddev);
}
Tensor bernoulli(const Shape& shape, double p, DType dtype, Device device, Generator* gen) {
  CORTEX_CHECK(p >= 0 && p <= 1, "bernoulli", "probability ", p, " outside [0, 1]");
  return random_tensor(shape, dtype, device, gen, RandomKind::bernoulli, p, 0);
}
Tensor randint(const Shape& shape, int64_t low, int64_t high, DType dtype, Device device, Generator* gen) {
  CORTEX_CHECK(low < high, "randint", "empty range [", low, ", ", high, ")");
  return random_tensor(shape, dtype, device, gen, RandomKind::randint, static_cast<double>(low),
                       static_cast<double>(high));
}

void copy_(const Tensor& dst, const Tensor& src) {
  CORTEX_CHECK(dst.defined() && src.defined(), "copy_", "undefined tensor");
  CORTEX_CHECK(dst.shape() == src.shape(), "copy_", "shape mismatch: destination ", dst.describe(), ", source ",
               src.describe());
  const Device d = dst.device().is_cuda() ? dst.device() : src.device();
  copy_kernel().get(d)(dst, src);
}

void fill_(const Tensor& dst, double value) { fill_kernel().get(dst.device())(dst, value); }

Tensor contiguous_copy(const Tensor& t) {
  Tensor out = empty(t.shape(), t.dtype(), t.device());
  copy_(out, t);
  return out;
}

Tensor data_to_device(const Tensor& t, Device device) {
  if (t.device() == device) return t;
  Tensor out = empty(t.shape(), t.dtype(), device);
  copy_(out, t);
  return out;
}

Tensor data_to_dtype(const Tensor& t, DType dtype) {
  if (t.dtype() == dtype) return t;
  Tensor out = empty(t.shape(), dtype, t.device());
  copy_(out, t);
  return out;
}

Tensor data_contiguous(const Tensor& t) { return t.is_contiguous() ? t : contiguous_copy(t); }

}  // namespace cortex
