#pragma once
// The Wiener filter under the protocol: ridge regression on lagged binned counts, fitted
// in closed form on the training folds (nn::WienerFilter picks lambda by its own
// cross-validation inside them).
//   causal: the last `lags` bins up to and including t;
//   non-causal: also the next lags-1 bins, through a second copy of every unit's counts
//     shifted lags-1 bins earlier (its history lags are the original's future bins).
#include <memory>

#include "nn/baselines/wiener_filter.h"
#include "train/trainer_decoding_task.h"

namespace cortex::train {

class WienerTask : public DecodingTask {
 public:
  WienerTask(const nn::ModelConfig& model, const FoldData& fold, Protocol protocol, std::string model_yaml);

  nn::Module& model() override { return *filter_; }
  bool supports_phase(Phase) const override { return false; }
  bool closed_form() const override { return true; }
  void fit() override;
  int64_t num_samples(Phase) const override { return 1; }
  Tensor batch_loss(Phase, const std::vector<int64_t>&, uint64_t) override;
  nn::Metadata checkpoint_metadata() const override;
  std::vector<float> predict(const data::SampleSet& set, const std::vector<int64_t>& trials) override;
  const nn::WienerFitReport& report() const { return report_; }

 private:
  // [bins, channels] input of one trial (units, or 2 x units for the non-causal design).
  Tensor design(const data::SampleSet& set, int64_t trial) const;

  nn::WienerConfig config_;
  std::string model_yaml_;
  std::unique_ptr<nn::WienerFilter> filter_;
  nn::WienerFitReport report_;
};

}  // namespace cortex::train
