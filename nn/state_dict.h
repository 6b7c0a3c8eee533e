#pragma once
// An insertion-ordered map from dotted names ("blocks.0.attn.qkv.weight") to tensors:
// what modules and optimisers save and load, and what a .safetensors file holds.
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/tensor.h"

namespace cortex::nn {

class StateDict {
 public:
  using Entry = std::pair<std::string, Tensor>;

  // Adds a new name; a name already present is an error (two tensors would fight over it).
  void insert(const std::string& name, const Tensor& tensor);
  bool contains(const std::string& name) const { return index_.count(name) != 0; }
  // The tensor under `name`; throws naming the key when absent.
  const Tensor& at(const std::string& name) const;
  // The tensor under `name`, or nullptr.
  const Tensor* find(const std::string& name) const;

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  std::vector<std::string> names() const;
  std::vector<Entry>::const_iterator begin() const { return entries_.begin(); }
  std::vector<Entry>::const_iterator end() const { return entries_.end(); }

 private:
  std::vector<Entry> entries_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace cortex::nn
