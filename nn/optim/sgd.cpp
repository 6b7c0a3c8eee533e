#include "nn/optim/sgd.h"

#include "autograd/grad_mode.h"
#include "engine/factory.h"
#include "nn/optim/state_keys.h"
#include "ops/elementwise.h"

namespace cortex::nn::optim {
namespace {

void check_options(const SGDOptions& o, size_t group) {
  CORTEX_CHECK(o.lr >= 0 && o.momentum >= 0 && o.weight_decay >= 0 && o.dampening >= 0 && o.dampening <= 1, "SGD",
               "group ", group, " has invalid options: lr=", o.lr, " momentum=", o.momentum, " dampening=",
               o.dampening, " weight_decay=", o.weight_decay, " (need lr, momentum, weight_decay >= 0, dampening in [0, 1])");
  CORTEX_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0), "SGD", "group ", group,
               ": Nesterov momentum needs momentum > 0 and dampening 0, got momentum=", o.momentum,
               " dampening=", o.dampening);
}

}  // namespace

SGD::SGD(std::vector<SGDGroup> groups) : groups_(std::move(groups)) {
  std::vector<std::vector<NamedTensor>*> lists;
  for (size_t g = 0; g < groups_.size(); ++g) {
    check_options(groups_[g].options, g);
    lists.push_back(&groups_[g].params);
    momentum_.emplace_back(groups_[g].params.size());
  }
  check_param_names(lists, "SGD");
}

SGD::SGD(std::vector<NamedTensor> params, const SGDOptions& options)
    : SGD(std::vector<SGDGroup>{{std::move(params), options}}) {}

void SGD::step() {
  NoGradGuard no_grad;
  for (size_t g = 0; g < groups_.size(); ++g) {
    const SGDOptions& o = groups_[g].options;
    check_options(o, g);
    for (size_t i = 0; i < groups_[g].params.size(); ++i) {
      const Tensor& p = groups_[g].params[i].second;
      Tensor d = p.grad();
      if (!d.defined()) continue;
      if (o.weight_decay != 0) d = add(d, mul(p, o.weight_decay));
      if (o.momentum != 0) {
        Tensor& buf = momentum_[g][i];
        if (!buf.defined()) {
          buf = contiguous_copy(d);
        } else {
          move_tensor_in_place(buf, p.device(), buf.dtype());
          mul_(buf, o.momentum);
          add_(buf, d, 1.0 - o.dampening);
        }
        d = o.nesterov ? add(d, mul(buf, o.momentum)) : buf;
      }
      add_(p, d, -o.lr);
    }
  }
}

void SGD::zero_grad() {
  for (auto& group : groups_)
    for (auto& [name, p] : group.params) p.zero_grad();
}

void SGD::set_lr(double lr) {
  CORTEX_CHECK(lr >= 0, "SGD::set_lr", "negative learning rate ", lr);
  for (auto& group : groups_) group.options.lr = lr;
}

StateDict SGD::state_dict() const {
  StateDict out;
  for (size_t g = 0; g < groups_.size(); ++g)
    for (size_t i = 0; i < groups_[g].params.size(); ++i)
      if (momentum_[g][i].defined()) out.insert(groups_[g].params[i].first + kMomentumKey, momentum_[g][i]);
  return out;
}

void SGD::load_state_dict(const StateDict& state) {
  std::vector<std::string> problems;
  const auto pieces = group_state_keys(state, {kMomentumKey}, problems);
  std::vector<std::vector<Tensor>> loaded(groups_.size());
  for (size_t g = 0; g < groups_.size(); ++g) loaded[g].resize(groups_[g].params.size());
  for (const auto& [name, keys] : pieces) {
    bool found = false;
    for (size_t g = 0; g < groups_.size() && !found; ++g)
      for (size_t i = 0; i < groups_[g].params.size() && !found; ++i)
        if (groups_[g].params[i].first == name) {
          const Tensor& p = groups_[g].params[i].second;
          loaded[g][i] = read_state_tensor(state, name + kMomentumKey, p, p.dtype(), problems);
          found = true;
        }
    if (!found) problems.push_back("state for unknown parameter '" + name + "'");
  }
  throw_state_problems("SGD::load_state_dict", problems);
  momentum_ = std::move(loaded);
}

}  // namespace cortex::nn::optim
