#pragma once
// The part every velocity decoder shares: a fold of the data, the protocol (causal or not),
// the velocity scaling, and R^2 on the fold's held-out trials from the decoder's own
// prediction of whole trials.
#include <cstdint>
#include <vector>

#include "train/evaluation_metrics.h"
#include "train/trainer_data.h"
#include "train/trainer_task.h"

namespace cortex::train {

enum class Protocol { causal, noncausal };
const char* protocol_name(Protocol p);
Protocol protocol_from_name(const std::string& name);

class DecodingTask : public TrainTask {
 public:
  DecodingTask(const FoldData& fold, Protocol protocol);

  // Velocity at every bin of `trials` of `set` (a set shaped like the training data), in
  // the data's units: [trials.size(), set.bins, outputs] row-major. Under the causal
  // protocol the value at bin t depends only on spikes of bins <= t of the same trial.
  virtual std::vector<float> predict(const data::SampleSet& set, const std::vector<int64_t>& trials) = 0;

  // Decoders fitted in closed form (the Wiener filter) do it here instead of by steps.
  virtual bool closed_form() const { return false; }
  virtual void fit() {}

  // R^2 over every bin of the fold's held-out trials ({"r2", "r2_x", "r2_y", ...});
  // empty without held-out trials.
  nlohmann::json evaluate(Phase phase) override;
  // Adds the held-out trials' predictions, smoothed as set_output_smoothing says, and their
  // targets to `acc` (protocol pooling). Returns the raw predictions, laid out as predict()
  // returns them for fold().test_trials.
  std::vector<float> score_held_out(R2Accumulator& acc);
  // Gaussian smoothing of each trial's predictions before scoring (predict.smooth_ms; 0: off;
  // train/output_smoothing.h). predict() itself stays unsmoothed.
  void set_output_smoothing(double sigma_ms);
  double output_smoothing_ms() const { return smooth_ms_; }

  const FoldData& fold() const { return fold_; }
  Protocol protocol() const { return protocol_; }

 protected:
  // Scaled velocity of a trial's bins [bins, outputs] from the labelled set.
  std::vector<float> scaled_targets(int64_t trial) const;
  // Metadata every decoder stores: scaling, protocol, unit count, bin width.
  nn::Metadata common_metadata() const;

  const FoldData& fold_;
  Protocol protocol_;
  double smooth_ms_ = 0;
};

}  // namespace cortex::train
