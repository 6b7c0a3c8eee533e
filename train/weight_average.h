#pragma once
// An exponential moving average of a model's parameters (EMA weights, Polyak averaging): after
// every optimiser step avg += (1 - d) (param - avg), kept in f32 whatever the parameters' dtype.
// The averaged weights generalise better than the last step's when the training set is small
// and the last steps are noisy (Cortex-S on 60 trials per fold). The trainer evaluates with
// them, ends the run with them in the model (so the final checkpoint and every prediction after
// training use them) and saves them in its checkpoints for an exact resume.
#include <cstdint>
#include <string>
#include <vector>

#include "nn/module.h"
#include "nn/state_dict.h"

namespace cortex::train {

// The decay in effect at the update after n others: min(decay, (1 + n) / (10 + n)).
double ramped_decay(double decay, int64_t n);
// How many updates the ramp takes to reach `decay`.
int64_t updates_to_reach(double decay);
// Empty when a phase of `steps` updates reaches `decay`; otherwise a sentence saying the ramp
// alone sets the average and where it ends (any larger decay would give the same weights).
std::string ramp_shortfall(double decay, int64_t steps);

class WeightAverage {
 public:
  // Starts from the model's current parameters; decay in (0, 1).
  WeightAverage(const nn::Module& model, double decay);

  // Folds the model's current parameters in. The decay warms up as ramped_decay(decay, n) over
  // the n updates before this one, so the initial weights do not linger in the average for
  // hundreds of steps of a short run.
  void update();
  int64_t updates() const { return updates_; }
  double decay() const { return decay_; }

  // Writes the average into the model's parameters (rounded to their dtype) and returns what it
  // overwrote, for restore_model.
  std::vector<Tensor> load_into_model() const;
  // Puts back the parameters load_into_model returned, bit for bit.
  void restore_model(const std::vector<Tensor>& saved) const;

  // The average as "<prefix><parameter name>" entries, and back (the updates count travels in the
  // trainer's JSON state). load_state_dict requires every parameter's entry with its shape.
  void save_to(nn::StateDict& state, const std::string& prefix) const;
  void load_from(const nn::StateDict& state, const std::string& prefix, int64_t updates);

 private:
  double decay_;
  int64_t updates_ = 0;
  std::vector<nn::NamedTensor> params_;  // the model's parameter handles (shared storage)
  std::vector<Tensor> average_;          // f32, one per parameter
};

}  // namespace cortex::train
