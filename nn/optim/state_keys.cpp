#include "nn/optim/state_keys.h"

#include "engine/factory.h"

namespace cortex::nn::optim {

std::map<std::string, std::set<std::string>> group_state_keys(const StateDict& state,
                                                              const std::vector<std::string>& suffixes,
                                                              std::vector<std::string>& problems) {
  std::map<std::string, std::set<std::string>> out;
  for (const auto& [key, t] : state) {
    bool matched = false;
    for (const auto& suffix : suffixes) {
      if (key.size() > suffix.size() && key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0) {
        out[key.substr(0, key.size() - suffix.size())].insert(suffix);
        matched = true;
        break;
      }
    }
    if (!matched) problems.push_back("unexpected key '" + key + "'");
  }
  return out;
}

int64_t read_step(const StateDict& state, const std::string& name, std::vector<std::string>& problems) {
  const std::string key = name + kStepKey;
  const Tensor* t = state.find(key);
  if (!t) {
    problems.push_back("missing '" + key + "'");
    return 0;
  }
  if (t->dtype() != DType::i64 || t->numel() != 1) {
    problems.push_back("'" + key + "' must be one i64, got " + t->describe());
    return 0;
  }
  const int64_t step = t->to_vector<int64_t>()[0];
  if (step < 1) {
    problems.push_back("'" + key + "' is " + std::to_string(step) + ", expected >= 1");
    return 0;
  }
  return step;
}

Tensor read_state_tensor(const StateDict& state, const std::string& key, const Tensor& param, DType dtype,
                         std::vector<std::string>& problems) {
  const Tensor* t = state.find(key);
  if (!t) {
    problems.push_back("missing '" + key + "'");
    return Tensor();
  }
  if (t->shape() != param.shape() || t->dtype() != dtype) {
    problems.push_back("'" + key + "' is " + dtype_name(t->dtype()) + shape_str(t->shape()) + ", expected " +
                       dtype_name(dtype) + shape_str(param.shape()));
    return Tensor();
  }
  // A copy, so later in-place updates never write into the caller's tensors.
  return contiguous_copy(data_to_device(*t, param.device()));
}

void throw_state_problems(const char* op, const std::vector<std::string>& problems) {
  if (problems.empty()) return;
  std::string msg = std::string(op) + ": " + std::to_string(problems.size()) + " problem(s): ";
  for (size_t i = 0; i < problems.size(); ++i) msg += (i ? "; " : "") + problems[i];
  throw Error(msg);
}

}  // namespace cortex::nn::optim
