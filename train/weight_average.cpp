#include "train/weight_average.h"

#include <algorithm>

#include "autograd/grad_mode.h"
#include "engine/error.h"
#include "engine/factory.h"
#include "ops/elementwise.h"

namespace cortex::train {
namespace {
constexpr const char* kOp = "WeightAverage";
}  // namespace

WeightAverage::WeightAverage(const nn::Module& model, double decay) : decay_(decay), params_(model.named_parameters()) {
  CORTEX_CHECK(decay > 0 && decay < 1, kOp, "decay must be in (0, 1), got ", decay);
  for (const auto& [name, p] : params_) average_.push_back(data_to_dtype(contiguous_copy(p), DType::f32));
}

void WeightAverage::update() {
  NoGradGuard no_grad;
  const double n = static_cast<double>(updates_);
  const double d = std::min(decay_, (1.0 + n) / (10.0 + n));
  // avg += (1 - d) (param - avg): exact for a parameter that did not move (a frozen one, or the
  // other phase's head), where d avg + (1 - d) param would drift by rounding.
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor step = sub(data_to_dtype(params_[i].second.detach(), DType::f32), average_[i]);
    add_(average_[i], step, 1.0 - d);
  }
  ++updates_;
}

std::vector<Tensor> WeightAverage::load_into_model() const {
  NoGradGuard no_grad;
  std::vector<Tensor> saved;
  for (size_t i = 0; i < params_.size(); ++i) {
    const Tensor& p = params_[i].second;
    saved.push_back(contiguous_copy(p.detach()));
    copy_(p.detach(), average_[i]);
  }
  return saved;
}

void WeightAverage::restore_model(const std::vector<Tensor>& saved) const {
  CORTEX_CHECK(saved.size() == params_.size(), kOp, "restore_model needs the ", params_.size(),
               " tensors load_into_model returned, got ", saved.size());
  NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) copy_(params_[i].second.detach(), saved[i]);
}

void WeightAverage::save_to(nn::StateDict& state, const std::string& prefix) const {
  for (size_t i = 0; i < params_.size(); ++i) state.insert(prefix + params_[i].first, average_[i]);
}

void WeightAverage::load_from(const nn::StateDict& state, const std::string& prefix, int64_t updates) {
  CORTEX_CHECK(updates >= 0, kOp, "a negative update count ", updates);
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string key = prefix + params_[i].first;
    const Tensor* t = state.find(key);
    CORTEX_CHECK(t != nullptr, kOp, "the checkpoint has no averaged weights for '", params_[i].first, "'");
    CORTEX_CHECK(t->shape() == average_[i].shape(), kOp, "averaged '", params_[i].first, "' has shape ",
                 t->describe(), ", the model's is ", average_[i].describe());
    copy_(average_[i], *t);
  }
  updates_ = updates;
}

}  // namespace cortex::train
