#pragma once
// Optimiser state dicts name each piece "<parameter name><suffix>". These helpers parse
// such a dict back and collect every problem so load_state_dict can report them at once.
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nn/state_dict.h"

namespace cortex::nn::optim {

inline constexpr const char* kStepKey = ".step";
inline constexpr const char* kExpAvgKey = ".exp_avg";
inline constexpr const char* kExpAvgSqKey = ".exp_avg_sq";
inline constexpr const char* kMasterKey = ".master";
inline constexpr const char* kMomentumKey = ".momentum_buffer";

// Parameter name -> the suffixes present for it. Keys with none of `suffixes` are problems.
std::map<std::string, std::set<std::string>> group_state_keys(const StateDict& state,
                                                              const std::vector<std::string>& suffixes,
                                                              std::vector<std::string>& problems);
// "<name>.step": an i64 scalar >= 1 (0 and a problem otherwise).
int64_t read_step(const StateDict& state, const std::string& name, std::vector<std::string>& problems);
// A fresh contiguous copy of state[key] on param's device, after checking it has param's
// shape and `dtype` (undefined and a problem otherwise).
Tensor read_state_tensor(const StateDict& state, const std::string& key, const Tensor& param, DType dtype,
                         std::vector<std::string>& problems);
// Throws one cortex::Error listing every problem, if there are any.
void throw_state_problems(const char* op, const std::vector<std::string>& problems);

}  // namespace cortex::nn::optim
