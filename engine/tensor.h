#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/shape.h"
#include "engine/storage.h"

namespace cortex {

namespace autograd {
class Node;
}

class Tensor;
struct AutogradMeta;

// Metadata of one view: where in the storage it starts and how it walks through it.
class TensorImpl {
 public:
  TensorImpl(Storage storage, Shape shape, Shape strides, int64_t offset, DType dtype);
  ~TensorImpl();

  Storage storage;
  Shape shape;
  Shape strides;  // in elements
  int64_t offset;  // in elements
  DType dtype;
  std::unique_ptr<AutogradMeta> autograd;  // null until autograd touches the tensor

  AutogradMeta& autograd_meta();  // creates it on first use
};

// A handle to a TensorImpl. Copies share the same view (like a PyTorch tensor);
// differentiable ops are free functions in ops/ (cortex::add, cortex::matmul, ...).
class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }

  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return static_cast<int64_t>(shape().size()); }
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t offset() const;
  int64_t numel() const { return shape_numel(shape()); }
  DType dtype() const;
  Device device() const;
  size_t itemsize() const { return dtype_size(dtype()); }
  size_t nbytes() const { return static_cast<size_t>(numel()) * itemsize(); }
  bool is_contiguous() const;
  const Storage& storage() const;

  // Pointer to the first element of this view.
  void* data_ptr() const;
  template <typename T>
  T* data() const {
    CORTEX_CHECK(dtype_of<T>::value == dtype(), "Tensor::data", "requested ", dtype_name(dtype_of<T>::value),
                 " but the tensor is ", describe());
    return static_cast<T*>(data_ptr());
  }

  // A view of the same storage with other metadata; not differentiable (see cortex::as_strided).
  Tensor view_as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;

  // Reads one element (any device, any dtype) as double: for scalars, tests and logging.
  double item() const;
  // Copies the whole tensor to a host vector of T (converting the dtype).
  template <typename T>
  std::vector<T> to_vector() const;

  // ---- autograd ----
  bool requires_grad() const;
  // Marks a leaf as needing gradients; returns *this for chaining.
  const Tensor& set_requires_grad(bool enabled = true) const;
  bool is_leaf() const;
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  void zero_grad() const;  // drops the gradient
  const std::shared_ptr<autograd::Node>& grad_fn() const;
  // Called once per backward() with the leaf's final accumulated gradient (the sharded
  // trainer starts its reduce-scatter from here).
  void register_grad_ready_hook(std::function<void(const Tensor&)> hook) const;
  // The same data without autograd history.
  Tensor detach() const;
  std::string name() const;
  void set_name(const std::string& name) const;

  // "f32[3, 4] cpu" for error messages.
  std::string describe() const;

 private:
  std::shared_ptr<TensorImpl> impl_;
  void check_defined(const char* what) const;
};

struct AutogradMeta {
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<autograd::Node> grad_fn;
  std::weak_ptr<autograd::Node> grad_accumulator;
  std::vector<std::function<void(const Tensor&)>> ready_hooks;
  std::string name;
};

std::string describe(const Tensor& t);

}  // namespace cortex
