#pragma once
// AdamW (Loshchilov & Hutter): Adam with weight decay applied to the weights directly,
// not through the gradient. The update runs through adamw_kernel (ops/kernels.h), one
// call per group and step count, so a backend can fuse all tensors of a group.
#include <vector>

#include "nn/optim/param_group.h"
#include "nn/state_dict.h"

namespace cortex::nn::optim {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
};
using AdamWGroup = ParamGroup<AdamWOptions>;

class AdamW {
 public:
  // With master_weights, each 16-bit (bf16/f16) parameter gets an f32 master copy that the
  // optimiser updates; the model's weight is its rounding. Without, 16-bit weights are
  // updated directly (small updates may then round away). Masters are taken from the
  // weights at a parameter's first update; weights loaded into the model after that must
  // come with the matching optimiser state (load_state_dict), or the stale master wins.
  explicit AdamW(std::vector<AdamWGroup> groups, bool master_weights = true);
  AdamW(std::vector<NamedTensor> params, const AdamWOptions& options, bool master_weights = true);

  // One update of every parameter that has a gradient; the others are left alone and
  // their step count does not advance.
  void step();
  void zero_grad();

  std::vector<AdamWGroup>& groups() { return groups_; }  // e.g. to set each group's lr
  const std::vector<AdamWGroup>& groups() const { return groups_; }
  void set_lr(double lr);  // every group
  // Updates applied so far to the named parameter.
  int64_t step_count(const std::string& name) const;
  // The f32 master of a 16-bit parameter (undefined when it has none yet).
  Tensor master(const std::string& name) const;

  // Per parameter that has been updated: "<name>.step" (i64 scalar), "<name>.exp_avg",
  // "<name>.exp_avg_sq" and, for 16-bit parameters with master weights, "<name>.master".
  // Hyperparameters are not included (they come from the config and the schedule).
  StateDict state_dict() const;
  // Restores state saved by state_dict (tensors are copied onto each parameter's device).
  // Names of unknown parameters, missing pieces, and shape/dtype mismatches are reported
  // together in one cortex::Error, and nothing is changed.
  void load_state_dict(const StateDict& state);

 private:
  struct State {
    int64_t step = 0;
    Tensor exp_avg, exp_avg_sq, master;
  };
  bool uses_master(const Tensor& param) const;
  std::pair<size_t, size_t> locate(const std::string& name) const;

  std::vector<AdamWGroup> groups_;
  std::vector<std::vector<State>> state_;  // [group][param]
  bool master_weights_;
};

}  // namespace cortex::nn::optim
