#pragma once
// The base of every layer and model: named parameters, buffers and child modules,
// train/eval mode, device/dtype moves and state dicts. A subclass registers what it owns
// in its constructor and defines its own forward (signatures differ between modules).
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/tensor.h"
#include "nn/state_dict.h"

namespace cortex::nn {

using NamedTensor = std::pair<std::string, Tensor>;

class Module {
 public:
  Module() = default;
  virtual ~Module() = default;
  // Parameters are shared handles; copying a module would silently share them.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // ---- what the module owns, recursively, with dotted names ----
  // A module's own tensors come first, then each child's in registration order. Each
  // tensor appears once even when registered under several names (tied weights).
  std::vector<NamedTensor> named_parameters() const;
  std::vector<Tensor> parameters() const;
  std::vector<NamedTensor> named_buffers() const;
  std::vector<Tensor> buffers() const;
  // Direct children in registration order.
  const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
  // Parameters registered on this module itself (local names, no children).
  const std::vector<NamedTensor>& own_parameters() const { return params_; }
  // This module (named "") and every descendant, depth first.
  std::vector<std::pair<std::string, const Module*>> named_modules() const;
  int64_t num_parameters() const;

  // Whether weight decay should apply to this module's own parameter `name` (no prefix).
  // Default: matrices decay, vectors (biases, norm gains) do not. Embeddings override it.
  virtual bool decays(const std::string& name, const Tensor& param) const { return param.dim() >= 2; }

  // ---- mode ----
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // ---- moves (in place: every handle to a parameter sees the new data, and parameters stay
  // leaves that require grad). Only floating tensors change dtype. Gradients move along.
  void to(Device device);
  void to(DType dtype);
  void to(Device device, DType dtype);

  // Drops every parameter's gradient.
  void zero_grad();

  // Parameters and persistent buffers by dotted name (own tensors first, then children).
  StateDict state_dict() const;
  // Copies tensors from `state` into the registered ones (converting device, not dtype).
  // Every problem (missing or, when strict, unexpected names; shape or dtype mismatches)
  // is reported together in one cortex::Error.
  void load_state_dict(const StateDict& state, bool strict = true);

 protected:
  // Registration: names are non-empty, contain no '.', and are unique within the module.
  // The returned handle shares the registered tensor.
  Tensor register_parameter(const std::string& name, const Tensor& tensor, bool requires_grad = true);
  // Non-persistent buffers (caches that can be recomputed) stay out of the state dict.
  Tensor register_buffer(const std::string& name, const Tensor& tensor, bool persistent = true);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_child(name, module);
    return module;
  }

 private:
  struct Buffer {
    std::string name;
    Tensor tensor;
    bool persistent;
  };
  void check_new_name(const std::string& name, const char* what) const;
  void add_child(const std::string& name, std::shared_ptr<Module> module);
  template <typename Fn>
  void visit(const std::string& prefix, Fn&& fn) const;

  bool training_ = true;
  std::vector<NamedTensor> params_;
  std::vector<Buffer> buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
};

// Children named "0", "1", ...: a stack of blocks ("blocks.3.attn.qkv.weight").
class ModuleList : public Module {
 public:
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> module) {
    register_module(std::to_string(items_.size()), module);
    items_.push_back(module);
    return module;
  }
  size_t size() const { return items_.size(); }
  const std::shared_ptr<Module>& operator[](size_t i) const;
  // The i-th module as its concrete type (checked).
  template <typename M>
  std::shared_ptr<M> get(size_t i) const {
    auto m = std::dynamic_pointer_cast<M>((*this)[i]);
    CORTEX_CHECK(m != nullptr, "ModuleList::get", "module ", i, " has another type");
    return m;
  }

 private:
  std::vector<std::shared_ptr<Module>> items_;
};

// Moves one tensor's data to another device/dtype in place: every handle sharing this
// TensorImpl sees the change, and its autograd flags stay. Used by Module::to and optimisers.
void move_tensor_in_place(const Tensor& t, Device device, DType dtype);

}  // namespace cortex::nn
