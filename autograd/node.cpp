#include "autograd/node.h"

#include "autograd/accumulate.h"
#include "autograd/grad_mode.h"
#include "engine/factory.h"

namespace cortex::autograd {

namespace {
AddFn g_add = nullptr;
}
void set_add_fn(AddFn fn) { g_add = fn; }
Tensor add_gradients(const Tensor& a, const Tensor& b) {
  CORTEX_CHECK(g_add != nullptr, "autograd", "no add function installed (is cortex_ops linked?)");
  return g_add(a, b);
}

std::vector<Tensor> FunctionNode::apply(const Tensor& grad_output) {
  CORTEX_CHECK(fn_ != nullptr, name(),
               "backward through a graph whose saved tensors were already freed; pass retain_graph=true to the "
               "first backward() to go through it twice");
  CORTEX_CHECK(grad_output.shape() == out_shape_, name(), "gradient of shape ", shape_str(grad_output.shape()),
               " for an output of shape ", shape_str(out_shape_));
  NeedsGrad needs(next.size());
  for (size_t i = 0; i < next.size(); ++i) needs[i] = next[i] != nullptr;
  const Tensor g = grad_output.dtype() == out_dtype_ ? grad_output : data_to_dtype(grad_output, out_dtype_);
  std::vector<Tensor> grads = fn_(g, needs);
  CORTEX_CHECK(grads.size() == next.size(), name(), "backward returned ", grads.size(), " gradients for ",
               next.size(), " inputs");
  return grads;
}

std::vector<Tensor> AccumulateGrad::apply(const Tensor& grad_output) {
  AutogradMeta& meta = leaf_->autograd_meta();
  Tensor g = grad_output.dtype() == leaf_->dtype ? grad_output : data_to_dtype(grad_output, leaf_->dtype);
  if (!meta.grad.defined()) {
    // Own the gradient: the incoming tensor may be shared with another input's gradient,
    // and optimisers scale .grad in place.
    meta.grad = contiguous_copy(g);
  } else {
    meta.grad = add_gradients(meta.grad, g);
  }
  meta.grad = meta.grad.detach();
  for (const auto& hook : meta.ready_hooks) hook(meta.grad);
  return {};
}

NodePtr gradient_edge(const Tensor& t) {
  if (!t.defined() || !t.requires_grad()) return nullptr;
  AutogradMeta& meta = t.impl()->autograd_meta();
  if (meta.grad_fn) return meta.grad_fn;
  NodePtr acc = meta.grad_accumulator.lock();
  if (!acc) {
    acc = std::make_shared<AccumulateGrad>(t.impl_ptr());
    meta.grad_accumulator = acc;
  }
  return acc;
}

Tensor record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs, BackwardFn backward) {
  if (!grad_enabled()) return out;
  bool any = false;
  for (const Tensor& in : inputs) any = any || (in.defined() && in.requires_grad());
  if (!any) return out;
  auto node = std::make_shared<FunctionNode>(name, std::move(backward), out.shape(), out.dtype());
  node->next.reserve(inputs.size());
  for (const Tensor& in : inputs) node->next.push_back(gradient_edge(in));
  AutogradMeta& meta = out.impl()->autograd_meta();
  CORTEX_CHECK(!meta.grad_fn, name, "output already has a grad_fn");
  meta.requires_grad = true;
  meta.grad_fn = std::move(node);
  return out;
}

}  // namespace cortex::autograd
