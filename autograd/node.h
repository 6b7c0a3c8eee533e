#pragma once
// The define-by-run tape: every differentiable op's output points at a Node that knows
// how to turn the output's gradient into gradients for the op's inputs.
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "engine/tensor.h"

namespace cortex::autograd {

class Node;
using NodePtr = std::shared_ptr<Node>;

class Node {
 public:
  explicit Node(std::string name) : name_(std::move(name)) {}
  virtual ~Node() = default;

  // Gradients for each input (undefined where the input needs none).
  virtual std::vector<Tensor> apply(const Tensor& grad_output) = 0;
  // Drops saved tensors once backward has used them, so memory is freed as it goes.
  virtual void release() {}

  const std::string& name() const { return name_; }
  // next[i] receives the gradient of input i; null when input i needs no gradient.
  std::vector<NodePtr> next;

 private:
  std::string name_;
};

// Which inputs want a gradient; backward closures skip the others.
using NeedsGrad = std::vector<bool>;
using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output, const NeedsGrad& needs)>;

// A node whose backward is a closure over what the forward saved (flashlight style).
class FunctionNode final : public Node {
 public:
  FunctionNode(std::string name, BackwardFn fn, Shape out_shape, DType out_dtype)
      : Node(std::move(name)), fn_(std::move(fn)), out_shape_(std::move(out_shape)), out_dtype_(out_dtype) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  void release() override { fn_ = nullptr; }

 private:
  BackwardFn fn_;
  Shape out_shape_;
  DType out_dtype_;
};

// Terminal node of a leaf: adds incoming gradients into leaf.grad and fires its ready hooks.
class AccumulateGrad final : public Node {
 public:
  explicit AccumulateGrad(std::shared_ptr<TensorImpl> leaf) : Node("AccumulateGrad"), leaf_(std::move(leaf)) {}
  std::vector<Tensor> apply(const Tensor& grad_output) override;
  const std::shared_ptr<TensorImpl>& leaf() const { return leaf_; }

 private:
  std::shared_ptr<TensorImpl> leaf_;
};

// The node that receives gradients for `t`: its grad_fn, its leaf accumulator, or null.
NodePtr gradient_edge(const Tensor& t);

// Records `out = op(inputs)` on the tape when grad mode is on and any input requires grad.
// Returns out (now carrying grad_fn). The closure must only capture what backward needs.
Tensor record(const char* name, const Tensor& out, const std::vector<Tensor>& inputs, BackwardFn backward);

}  // namespace cortex::autograd
