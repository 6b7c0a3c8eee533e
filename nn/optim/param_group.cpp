#include "nn/optim/param_group.h"

#include <unordered_set>

namespace cortex::nn::optim {

DecaySplit split_by_decay(const Module& module) {
  DecaySplit split;
  std::unordered_set<const TensorImpl*> seen;
  for (const auto& [prefix, m] : module.named_modules()) {
    for (const auto& [name, t] : m->own_parameters()) {
      if (!seen.insert(t.impl()).second || !t.requires_grad()) continue;
      const std::string full = prefix.empty() ? name : prefix + "." + name;
      (m->decays(name, t) ? split.decay : split.no_decay).emplace_back(full, t);
    }
  }
  return split;
}

void check_param_names(const std::vector<std::vector<NamedTensor>*>& lists, const char* optimiser) {
  std::unordered_set<std::string> names;
  std::unordered_set<const TensorImpl*> tensors;
  for (const auto* list : lists) {
    for (const auto& [name, t] : *list) {
      CORTEX_CHECK(!name.empty(), optimiser, "a parameter has an empty name");
      CORTEX_CHECK(t.defined(), optimiser, "parameter '", name, "' is undefined");
      CORTEX_CHECK(t.is_leaf() && is_floating(t.dtype()), optimiser, "parameter '", name,
                   "' must be a floating leaf tensor, got ", t.describe());
      CORTEX_CHECK(names.insert(name).second, optimiser, "parameter name '", name, "' appears twice");
      CORTEX_CHECK(tensors.insert(t.impl()).second, optimiser, "parameter '", name,
                   "' is the same tensor as another parameter");
    }
  }
}

}  // namespace cortex::nn::optim
