#pragma once
// Cortex on binned trials. Each non-zero (bin, unit) count becomes one event at the bin's
// centre (ms from the trial's first bin).
//   non-causal: one sample per trial, the window centred on the trial (it must be at least
//     as long as the trial), queries at every bin centre;
//   causal: one sample per (trial, bin t), the window ending at bin t's right edge and
//     holding only events of bins <= t, one query at bin t's centre;
//   non-causal with centred windows: one sample per (trial, bin t), the window centred on
//     bin t and holding the trial's events inside it (before and after t), one query at t.
//     Every bin is then a differently placed sample, as in the causal protocol, instead of
//     each trial being one fixed whole-trial sample.
// Pre-training masks (unit, bin) cells of whole trials (training folds plus the unlabelled
// trials; never the held-out fold) and predicts their counts with the Poisson head; cells
// outside the trial are not scored (there is no data there).
#include <memory>
#include <string>
#include <vector>

#include "nn/cortex/cortex.h"
#include "train/trainer_decoding_task.h"

namespace cortex::train {

struct CortexTaskOptions {
  uint64_t seed = 0;
  Device device = Device::cpu();
  DType dtype = DType::f32;
  double mask_ratio = 0.25;
  double spike_dropout = 0.0;  // fine-tuning only: input spikes thinned (see trainer_augment.h)
  // Non-causal fine-tuning only: each sample is a random run of at least this many bins of
  // its trial (events and labels of those bins), so the model cannot key a whole trial's
  // trajectory to a fingerprint of the whole trial. 0: whole trials.
  int64_t crop_min_bins = 0;
  // Non-causal fine-tuning only: the window start moves by a random shift of up to this many
  // ms (only as far as keeps the trial inside the window), so the latents' times relative to
  // the trial differ from sample to sample instead of one fixed grid per trial. 0: off.
  double window_jitter_ms = 0.0;
  bool centred_windows = false;  // non-causal only (see the file comment)
  std::string model_yaml;  // stored with checkpoints so the server can rebuild the model
  int64_t predict_batch = 128;  // windows per forward when predicting
};

class CortexTask : public DecodingTask {
 public:
  CortexTask(const nn::CortexConfig& config, const FoldData& fold, Protocol protocol, const CortexTaskOptions& options);

  nn::Module& model() override { return *model_; }
  nn::Cortex& cortex() { return *model_; }
  Generator* generator() override { return &gen_; }
  bool supports_phase(Phase) const override { return true; }
  int64_t num_samples(Phase phase) const override;
  Tensor batch_loss(Phase phase, const std::vector<int64_t>& samples, uint64_t seed) override;
  nlohmann::json evaluate(Phase phase) override;
  nn::Metadata checkpoint_metadata() const override;
  std::vector<float> predict(const data::SampleSet& set, const std::vector<int64_t>& trials) override;

  // Window start (ms) of a whole trial, and of the causal window that ends with bin t.
  double trial_window_start() const;
  double causal_window_start(int64_t bin) const;
  // The window of the per-bin sample of bin t (causal, or non-causal with centred windows):
  // its start and the first and last trial bins whose events it holds.
  struct BinWindow {
    double start_ms;
    int64_t first_bin, last_bin;
  };
  BinWindow bin_window(int64_t bin) const;
  bool per_bin_samples() const { return protocol_ == Protocol::causal || options_.centred_windows; }
  // trial_window_start() moved by the sample's random shift (window_jitter_ms), training only.
  double jittered_window_start(uint64_t seed, uint64_t sample) const;
  // Events of bins [first, last] of one trial, in time order. With thin_p > 0 each spike
  // is dropped with that probability (stream `sample` of `seed`).
  nn::SpikeEvents trial_events(const data::SampleSet& set, int64_t trial, int64_t first_bin, int64_t last_bin,
                               double thin_p = 0.0, uint64_t seed = 0, uint64_t sample = 0) const;

 private:
  struct PretrainSample {
    const data::SampleSet* set;
    int64_t trial;
  };
  PretrainSample pretrain_sample(int64_t id) const;
  Tensor masked_loss(const std::vector<PretrainSample>& samples, uint64_t seed);

  nn::CortexConfig config_;
  CortexTaskOptions options_;
  Generator gen_;
  std::unique_ptr<nn::Cortex> model_;
  double bin_ms_;
  int64_t bins_;
};

}  // namespace cortex::train
