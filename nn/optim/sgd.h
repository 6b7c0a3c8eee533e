#pragma once
// SGD with optional momentum (heavy ball or Nesterov) and L2 weight decay added to the
// gradient, following the usual formulation:
//   d = g + wd * p;  buf = momentum * buf + (1 - dampening) * d  (buf = d on the first step)
//   d = nesterov ? d + momentum * buf : buf;  p -= lr * d
#include <vector>

#include "nn/optim/param_group.h"
#include "nn/state_dict.h"

namespace cortex::nn::optim {

struct SGDOptions {
  double lr = 1e-2;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;  // needs momentum > 0 and dampening == 0
};
using SGDGroup = ParamGroup<SGDOptions>;

class SGD {
 public:
  explicit SGD(std::vector<SGDGroup> groups);
  SGD(std::vector<NamedTensor> params, const SGDOptions& options);

  // Updates every parameter that has a gradient.
  void step();
  void zero_grad();
  std::vector<SGDGroup>& groups() { return groups_; }
  void set_lr(double lr);

  // "<name>.momentum_buffer" for every parameter that has one.
  StateDict state_dict() const;
  // Restores momentum buffers; all problems are reported in one cortex::Error.
  void load_state_dict(const StateDict& state);

 private:
  std::vector<SGDGroup> groups_;
  std::vector<std::vector<Tensor>> momentum_;  // [group][param], undefined until first used
};

}  // namespace cortex::nn::optim
