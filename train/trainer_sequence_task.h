#pragma once
// The binned baselines (GRU, Transformer): a trial's spike counts [bins, units] in, the
// velocity of every bin out. One sample per training trial; the loss is the MSE of the
// scaled velocity over every bin. Causality comes from the model itself (a unidirectional
// GRU, a causal attention mask), so the same whole-trial forward serves both protocols.
#include <memory>
#include <string>

#include "nn/module.h"
#include "nn/model_config.h"
#include "train/trainer_decoding_task.h"

namespace cortex::train {

struct SequenceTaskOptions {
  uint64_t seed = 0;
  Device device = Device::cpu();
  DType dtype = DType::f32;
  std::string model_yaml;
  double spike_dropout = 0.0;  // input spikes thinned while training (see trainer_augment.h)
  int64_t predict_batch = 16;  // trials per forward when predicting
};

class SequenceTask : public DecodingTask {
 public:
  // model.kind must be gru or transformer (with the protocol already applied).
  SequenceTask(const nn::ModelConfig& model, const FoldData& fold, Protocol protocol,
               const SequenceTaskOptions& options);

  nn::Module& model() override { return *module_; }
  Generator* generator() override { return &gen_; }
  int64_t num_samples(Phase phase) const override;
  Tensor batch_loss(Phase phase, const std::vector<int64_t>& samples, uint64_t seed) override;
  nn::Metadata checkpoint_metadata() const override;
  std::vector<float> predict(const data::SampleSet& set, const std::vector<int64_t>& trials) override;

 private:
  Tensor forward(const Tensor& counts) const;  // [B, T, units] -> [B, T, outputs] f32
  Tensor counts_of(const data::SampleSet& set, const std::vector<int64_t>& trials, double thin_p = 0.0,
                   uint64_t seed = 0) const;

  nn::ModelConfig config_;
  SequenceTaskOptions options_;
  Generator gen_;
  std::shared_ptr<nn::Module> module_;
};

}  // namespace cortex::train
