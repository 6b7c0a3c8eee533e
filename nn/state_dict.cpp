#include "nn/state_dict.h"

namespace cortex::nn {

void StateDict::insert(const std::string& name, const Tensor& tensor) {
  CORTEX_CHECK(!name.empty(), "StateDict::insert", "empty tensor name");
  CORTEX_CHECK(tensor.defined(), "StateDict::insert", "tensor '", name, "' is undefined");
  const bool fresh = index_.emplace(name, entries_.size()).second;
  CORTEX_CHECK(fresh, "StateDict::insert", "duplicate name '", name, "'");
  entries_.emplace_back(name, tensor);
}

const Tensor& StateDict::at(const std::string& name) const {
  const Tensor* t = find(name);
  CORTEX_CHECK(t != nullptr, "StateDict::at", "no tensor named '", name, "'");
  return *t;
}

const Tensor* StateDict::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

std::vector<std::string> StateDict::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& e : entries_) out.push_back(e.first);
  return out;
}

}  // namespace cortex::nn
