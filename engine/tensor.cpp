#include "engine/tensor.h"

#include "engine/factory.h"

namespace cortex {

TensorImpl::TensorImpl(Storage s, Shape sh, Shape st, int64_t off, DType dt)
    : storage(std::move(s)), shape(std::move(sh)), strides(std::move(st)), offset(off), dtype(dt) {}
TensorImpl::~TensorImpl() = default;

AutogradMeta& TensorImpl::autograd_meta() {
  if (!autograd) autograd = std::make_unique<AutogradMeta>();
  return *autograd;
}

void Tensor::check_defined(const char* what) const {
  if (!impl_) CORTEX_FAIL(what, "called on an undefined tensor");
}

const Shape& Tensor::shape() const {
  check_defined("Tensor::shape");
  return impl_->shape;
}
const Shape& Tensor::strides() const {
  check_defined("Tensor::strides");
  return impl_->strides;
}
int64_t Tensor::size(int64_t d) const { return shape()[wrap_dim(d, dim(), "Tensor::size")]; }
int64_t Tensor::stride(int64_t d) const { return strides()[wrap_dim(d, dim(), "Tensor::stride")]; }
int64_t Tensor::offset() const {
  check_defined("Tensor::offset");
  return impl_->offset;
}
DType Tensor::dtype() const {
  check_defined("Tensor::dtype");
  return impl_->dtype;
}
Device Tensor::device() const {
  check_defined("Tensor::device");
  return impl_->storage->device();
}
const Storage& Tensor::storage() const {
  check_defined("Tensor::storage");
  return impl_->storage;
}

bool Tensor::is_contiguous() const {
  const Shape& sh = shape();
  int64_t expected = 1;
  for (size_t i = sh.size(); i-- > 0;) {
    if (sh[i] == 1) continue;
    if (impl_->strides[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  check_defined("Tensor::data_ptr");
  return static_cast<char*>(impl_->storage->data()) + impl_->offset * static_cast<int64_t>(itemsize());
}

Tensor Tensor::view_as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  check_defined("Tensor::view_as_strided");
  CORTEX_CHECK(shape.size() == strides.size(), "view_as_strided", "shape ", shape_str(shape), " and strides ",
               shape_str(strides), " differ in rank");
  // Bounds: the furthest element must lie inside the storage.
  int64_t last = offset;
  bool empty = false;
  for (size_t i = 0; i < shape.size(); ++i) {
    CORTEX_CHECK(shape[i] >= 0 && strides[i] >= 0, "view_as_strided", "negative size or stride in ", shape_str(shape),
                 " / ", shape_str(strides));
    if (shape[i] == 0) empty = true;
    else last += (shape[i] - 1) * strides[i];
  }
  CORTEX_CHECK(offset >= 0 && (empty || static_cast<size_t>(last + 1) * itemsize() <= impl_->storage->nbytes()),
               "view_as_strided", "view ", shape_str(shape), " strides ", shape_str(strides), " offset ", offset,
               " reaches past the storage of ", impl_->storage->nbytes(), " bytes");
  return Tensor(std::make_shared<TensorImpl>(impl_->storage, shape, strides, offset, impl_->dtype));
}

double Tensor::item() const {
  CORTEX_CHECK(defined() && numel() == 1, "Tensor::item", "expected a tensor with one element, got ",
               defined() ? describe() : "undefined");
  Tensor host = data_to_device(*this, Device::cpu());
  return visit_dtype(host.dtype(), "item", [&](auto tag) {
    using T = typename decltype(tag)::type;
    return static_cast<double>(convert<double>(*static_cast<const T*>(host.data_ptr())));
  });
}

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor host = data_contiguous(data_to_device(*this, Device::cpu()));
  std::vector<T> out(static_cast<size_t>(numel()));
  visit_dtype(host.dtype(), "to_vector", [&](auto tag) {
    using S = typename decltype(tag)::type;
    const S* src = static_cast<const S*>(host.data_ptr());
    for (size_t i = 0; i < out.size(); ++i) out[i] = convert<T>(src[i]);
  });
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int32_t> Tensor::to_vector<int32_t>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<uint8_t> Tensor::to_vector<uint8_t>() const;

bool Tensor::requires_grad() const {
  check_defined("Tensor::requires_grad");
  return impl_->autograd && impl_->autograd->requires_grad;
}

const Tensor& Tensor::set_requires_grad(bool enabled) const {
  check_defined("Tensor::set_requires_grad");
  CORTEX_CHECK(!enabled || is_floating(dtype()), "set_requires_grad", "only floating tensors can require gradients, got ",
               describe());
  CORTEX_CHECK(is_leaf(), "set_requires_grad", "can only be set on a leaf tensor (use detach() first)");
  impl_->autograd_meta().requires_grad = enabled;
  return *this;
}

bool Tensor::is_leaf() const { return !impl_->autograd || !impl_->autograd->grad_fn; }

Tensor Tensor::grad() const {
  check_defined("Tensor::grad");
  return impl_->autograd ? impl_->autograd->grad : Tensor();
}
void Tensor::set_grad(const Tensor& g) const {
  check_defined("Tensor::set_grad");
  if (g.defined())
    CORTEX_CHECK(g.shape() == shape() && g.device() == device(), "set_grad", "gradient ", g.describe(),
                 " does not match tensor ", describe());
  impl_->autograd_meta().grad = g;
}
void Tensor::zero_grad() const {
  if (impl_ && impl_->autograd) impl_->autograd->grad = Tensor();
}

const std::shared_ptr<autograd::Node>& Tensor::grad_fn() const {
  static const std::shared_ptr<autograd::Node> none;
  check_defined("Tensor::grad_fn");
  return impl_->autograd ? impl_->autograd->grad_fn : none;
}

void Tensor::register_grad_ready_hook(std::function<void(const Tensor&)> hook) const {
  check_defined("register_grad_ready_hook");
  CORTEX_CHECK(is_leaf() && requires_grad(), "register_grad_ready_hook", "needs a leaf that requires grad, got ",
               describe());
  impl_->autograd_meta().ready_hooks.push_back(std::move(hook));
}

Tensor Tensor::detach() const {
  check_defined("Tensor::detach");
  return Tensor(std::make_shared<TensorImpl>(impl_->storage, impl_->shape, impl_->strides, impl_->offset, impl_->dtype));
}

std::string Tensor::name() const { return impl_ && impl_->autograd ? impl_->autograd->name : std::string(); }
void Tensor::set_name(const std::string& n) const {
  check_defined("Tensor::set_name");
  impl_->autograd_meta().name = n;
}

std::string Tensor::describe() const {
  if (!impl_) return "undefined";
  return std::string(dtype_name(impl_->dtype)) + shape_str(impl_->shape) + " " + device().str();
}

std::string describe(const Tensor& t) { return t.describe(); }

}  // namespace cortex
