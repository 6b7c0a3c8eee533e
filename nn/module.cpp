#include "nn/module.h"

#include <unordered_set>

#include "autograd/grad_mode.h"
#include "engine/factory.h"

namespace cortex::nn {

// Calls fn(prefix, module) for this module and every descendant, depth first.
template <typename Fn>
void Module::visit(const std::string& prefix, Fn&& fn) const {
  fn(prefix, *this);
  for (const auto& [name, child] : children_) child->visit(prefix.empty() ? name : prefix + "." + name, fn);
}

namespace {
std::string join(const std::string& prefix, const std::string& name) {
  return prefix.empty() ? name : prefix + "." + name;
}
}  // namespace

void Module::check_new_name(const std::string& name, const char* what) const {
  CORTEX_CHECK(!name.empty(), what, "empty name");
  CORTEX_CHECK(name.find('.') == std::string::npos, what, "name '", name, "' contains '.', which separates levels");
  bool taken = false;
  for (const auto& p : params_) taken = taken || p.first == name;
  for (const auto& b : buffers_) taken = taken || b.name == name;
  for (const auto& c : children_) taken = taken || c.first == name;
  CORTEX_CHECK(!taken, what, "name '", name, "' is already registered in this module");
}

Tensor Module::register_parameter(const std::string& name, const Tensor& tensor, bool requires_grad) {
  check_new_name(name, "register_parameter");
  CORTEX_CHECK(tensor.defined(), "register_parameter", "parameter '", name, "' is undefined");
  CORTEX_CHECK(tensor.is_leaf(), "register_parameter", "parameter '", name,
               "' must be a leaf tensor (detach() it first)");
  if (requires_grad) tensor.set_requires_grad(true);
  params_.emplace_back(name, tensor);
  return tensor;
}

Tensor Module::register_buffer(const std::string& name, const Tensor& tensor, bool persistent) {
  check_new_name(name, "register_buffer");
  CORTEX_CHECK(tensor.defined(), "register_buffer", "buffer '", name, "' is undefined");
  buffers_.push_back({name, tensor, persistent});
  return tensor;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> module) {
  check_new_name(name, "register_module");
  CORTEX_CHECK(module != nullptr, "register_module", "module '", name, "' is null");
  // A module that contains itself would make every walk infinite.
  bool cycle = false;
  module->visit("", [&](const std::string&, const Module& m) { cycle = cycle || &m == this; });
  CORTEX_CHECK(!cycle, "register_module", "module '", name, "' contains this module (a cycle)");
  children_.emplace_back(name, std::move(module));
}

std::vector<NamedTensor> Module::named_parameters() const {
  std::vector<NamedTensor> out;
  std::unordered_set<const TensorImpl*> seen;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.params_)
      if (seen.insert(t.impl()).second) out.emplace_back(join(prefix, name), t);
  });
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<NamedTensor> Module::named_buffers() const {
  std::vector<NamedTensor> out;
  std::unordered_set<const TensorImpl*> seen;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& b : m.buffers_)
      if (seen.insert(b.tensor.impl()).second) out.emplace_back(join(prefix, b.name), b.tensor);
  });
  return out;
}

std::vector<Tensor> Module::buffers() const {
  std::vector<Tensor> out;
  for (auto& [name, t] : named_buffers()) out.push_back(t);
  return out;
}

std::vector<std::pair<std::string, const Module*>> Module::named_modules() const {
  std::vector<std::pair<std::string, const Module*>> out;
  visit("", [&](const std::string& prefix, const Module& m) { out.emplace_back(prefix, &m); });
  return out;
}

int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (const auto& [name, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

void move_tensor_in_place(const Tensor& t, Device device, DType dtype) {
  if (t.device() == device && t.dtype() == dtype) return;
  const Tensor moved = data_to_device(data_to_dtype(t, dtype), device);
  TensorImpl* impl = t.impl();
  impl->storage = moved.storage();
  impl->strides = moved.strides();
  impl->offset = moved.offset();
  impl->dtype = moved.dtype();
  if (impl->autograd && impl->autograd->grad.defined())
    impl->autograd->grad = data_to_device(data_to_dtype(impl->autograd->grad, dtype), device);
}

void Module::to(Device device) {
  for (const Tensor& t : parameters()) move_tensor_in_place(t, device, t.dtype());
  for (const Tensor& t : buffers()) move_tensor_in_place(t, device, t.dtype());
}

void Module::to(DType dtype) {
  CORTEX_CHECK(is_floating(dtype), "Module::to", "modules convert to floating dtypes only, got ", dtype_name(dtype));
  for (const Tensor& t : parameters())
    if (is_floating(t.dtype())) move_tensor_in_place(t, t.device(), dtype);
  for (const Tensor& t : buffers())
    if (is_floating(t.dtype())) move_tensor_in_place(t, t.device(), dtype);
}

void Module::to(Device device, DType dtype) {
  to(dtype);
  to(device);
}

void Module::zero_grad() {
  for (const Tensor& t : parameters()) t.zero_grad();
}

StateDict Module::state_dict() const {
  StateDict out;
  std::unordered_set<const TensorImpl*> seen;
  visit("", [&](const std::string& prefix, const Module& m) {
    for (const auto& [name, t] : m.params_)
      if (seen.insert(t.impl()).second) out.insert(join(prefix, name), t);
    for (const auto& b : m.buffers_)
      if (b.persistent && seen.insert(b.tensor.impl()).second) out.insert(join(prefix, b.name), b.tensor);
  });
  return out;
}

void Module::load_state_dict(const StateDict& state, bool strict) {
  const StateDict own = state_dict();
  std::vector<std::string> problems;
  for (const auto& [name, dst] : own) {
    const Tensor* src = state.find(name);
    if (!src) {
      if (strict) problems.push_back("missing '" + name + "'");
      continue;
    }
    if (src->shape() != dst.shape() || src->dtype() != dst.dtype())
      problems.push_back("'" + name + "' is " + dtype_name(dst.dtype()) + shape_str(dst.shape()) +
                         " in the module but " + dtype_name(src->dtype()) + shape_str(src->shape()) + " in the state");
  }
  if (strict)
    for (const auto& [name, src] : state)
      if (!own.contains(name)) problems.push_back("unexpected '" + name + "'");
  if (!problems.empty()) {
    std::string msg = "load_state_dict: " + std::to_string(problems.size()) + " problem(s): ";
    for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
    throw Error(msg);
  }
  NoGradGuard no_grad;
  for (const auto& [name, dst] : own)
    if (const Tensor* src = state.find(name)) {
      // copy_ needs disjoint memory; loading a module's own state shares it.
      if (src->storage() == dst.storage()) copy_(dst, contiguous_copy(*src));
      else copy_(dst, *src);
    }
}

const std::shared_ptr<Module>& ModuleList::operator[](size_t i) const {
  CORTEX_CHECK(i < items_.size(), "ModuleList", "index ", i, " out of range for ", items_.size(), " modules");
  return items_[i];
}

}  // namespace cortex::nn
