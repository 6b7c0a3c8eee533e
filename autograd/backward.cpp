#include "autograd/backward.h"

#include <unordered_map>
#include <vector>

#include "autograd/accumulate.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "engine/factory.h"

namespace cortex {

using autograd::Node;
using autograd::NodePtr;

void backward(const Tensor& root, const Tensor& grad_output, bool retain_graph) {
  CORTEX_CHECK(root.defined(), "backward", "called on an undefined tensor");
  CORTEX_CHECK(root.requires_grad(), "backward", "tensor ", root.describe(),
               " does not require grad (no input of the computation had requires_grad set)");
  Tensor seed = grad_output;
  if (!seed.defined()) {
    CORTEX_CHECK(root.numel() == 1, "backward", "an implicit gradient needs a single-element output, got ",
                 root.describe(), "; pass grad_output");
    seed = full(root.shape(), 1.0, root.dtype(), root.device());
  }
  CORTEX_CHECK(seed.shape() == root.shape() && seed.device() == root.device(), "backward", "grad_output ",
               seed.describe(), " does not match output ", root.describe());

  NoGradGuard no_grad;
  NodePtr start = autograd::gradient_edge(root);

  // Count, for every reachable node, how many edges lead into it.
  std::unordered_map<Node*, int> pending_inputs;
  std::vector<Node*> stack{start.get()};
  pending_inputs[start.get()] = 0;
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    for (const NodePtr& next : n->next) {
      if (!next) continue;
      if (pending_inputs.emplace(next.get(), 0).second) stack.push_back(next.get());
      ++pending_inputs[next.get()];
    }
  }

  // Run each node once all of its consumers have been processed. A node that received
  // no gradient still runs through, so the counts of the nodes behind it reach zero.
  std::unordered_map<Node*, Tensor> grads;
  grads[start.get()] = seed;
  std::vector<NodePtr> ready{start};
  while (!ready.empty()) {
    NodePtr node = std::move(ready.back());
    ready.pop_back();
    std::vector<Tensor> input_grads;
    if (auto it = grads.find(node.get()); it != grads.end()) {
      Tensor g = std::move(it->second);
      grads.erase(it);
      input_grads = node->apply(g);
    }
    if (!retain_graph) node->release();
    for (size_t i = 0; i < node->next.size(); ++i) {
      const NodePtr& next = node->next[i];
      if (!next) continue;
      if (i < input_grads.size() && input_grads[i].defined()) {
        Tensor& slot = grads[next.get()];
        slot = slot.defined() ? autograd::add_gradients(slot, input_grads[i]) : input_grads[i];
      }
      if (--pending_inputs[next.get()] == 0) ready.push_back(next);
    }
  }
}

}  // namespace cortex
