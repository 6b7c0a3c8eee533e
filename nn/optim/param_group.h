#pragma once
// Parameter groups: named parameters that share optimiser hyperparameters.
#include <string>
#include <vector>

#include "nn/module.h"

namespace cortex::nn::optim {

template <typename Options>
struct ParamGroup {
  std::vector<NamedTensor> params;
  Options options;
};

// A module's parameters split by Module::decays: matrices in `decay`; biases, norm gains
// and embedding tables in `no_decay`. Parameters that do not require grad are left out.
struct DecaySplit {
  std::vector<NamedTensor> decay;
  std::vector<NamedTensor> no_decay;
};
DecaySplit split_by_decay(const Module& module);

// Two groups with `options`, the second with weight_decay = 0 (empty groups are dropped).
template <typename Options>
std::vector<ParamGroup<Options>> decay_groups(const Module& module, const Options& options) {
  DecaySplit split = split_by_decay(module);
  std::vector<ParamGroup<Options>> groups;
  if (!split.decay.empty()) groups.push_back({std::move(split.decay), options});
  if (!split.no_decay.empty()) {
    Options no_decay = options;
    no_decay.weight_decay = 0.0;
    groups.push_back({std::move(split.no_decay), no_decay});
  }
  return groups;
}

// Throws when a name or tensor appears twice across the lists or a tensor is not a floating leaf.
void check_param_names(const std::vector<std::vector<NamedTensor>*>& lists, const char* optimiser);

}  // namespace cortex::nn::optim
