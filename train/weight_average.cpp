#include "train/weight_average.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "autograd/grad_mode.h"
#include "engine/error.h"
#include "engine/factory.h"
#include "ops/elementwise.h"

namespace cortex::train {
namespace {
constexpr const char* kOp = "WeightAverage";
}  // namespace

double ramped_decay(double decay, int64_t n) {
  const double m = static_cast<double>(n);
  return std::min(decay, (1.0 + m) / (10.0 + m));
}

int64_t updates_to_reach(double decay) {
  CORTEX_CHECK(decay > 0 && decay < 1, kOp, "decay must be in (0, 1), got ", decay);
  // (1 + n) / (10 + n) >= decay  <=>  n >= (10 decay - 1) / (1 - decay); rounding is checked.
  int64_t n = std::max<int64_t>(0, static_cast<int64_t>(std::ceil((10.0 * decay - 1.0) / (1.0 - decay))));
  while (n > 0 && ramped_decay(decay, n - 1) >= decay) --n;
  while (ramped_decay(decay, n) < decay) ++n;
  return n;
}

std::string ramp_shortfall(double decay, int64_t steps) {
  const int64_t reach = updates_to_reach(decay);
  if (steps <= 0 || steps > reach) return "";
  std::ostringstream os;
  os << "optim.ema_decay=" << decay << " is reached after " << reach << " updates, but this phase has " << steps
     << ": the warm-up ramp min(d, (1 + n) / (10 + n)) sets the whole average and ends at "
     << ramped_decay(decay, steps - 1) << " (a larger decay would give the same weights)";
  return os.str();
}

WeightAverage::WeightAverage(const nn::Module& model, double decay) : decay_(decay), params_(model.named_parameters()) {
  CORTEX_CHECK(decay > 0 && decay < 1, kOp, "decay must be in (0, 1), got ", decay);
  for (const auto& [name, p] : params_) average_.push_back(data_to_dtype(contiguous_copy(p), DType::f32));
}

void WeightAverage::update() {
  NoGradGuard no_grad;
  const double d = ramped_decay(decay_, updates_);
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
