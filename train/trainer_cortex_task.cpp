#include "train/trainer_cortex_task.h"

#include <algorithm>
#include <cmath>

#include "autograd/grad_mode.h"
#include "engine/error.h"
#include "engine/factory.h"
#include "nn/cortex/masking.h"
#include "train/trainer_augment.h"
#include "ops/ops.h"

namespace cortex::train {
namespace {

constexpr const char* kOp = "CortexTask";

}  // namespace

CortexTask::CortexTask(const nn::CortexConfig& config, const FoldData& fold, Protocol protocol,
                       const CortexTaskOptions& options)
    : DecodingTask(fold, protocol),
      config_(config),
      options_(options),
      gen_(options.seed),
      bin_ms_(fold.data->bin_ms()),
      bins_(fold.data->bins()) {
  const auto& d = *fold.data;
  CORTEX_CHECK(d.units() <= config.unit_vocab, kOp, "the data has ", d.units(), " units but ", config.name,
               " has a unit vocabulary of ", config.unit_vocab);
  CORTEX_CHECK(d.outputs() == config.outputs, kOp, "the data has ", d.outputs(), " behaviour components but ",
               config.name, " decodes ", config.outputs);
  const double trial_ms = static_cast<double>(bins_) * bin_ms_;
  CORTEX_CHECK(config.window_ms >= trial_ms, kOp, config.name, "'s window of ", config.window_ms,
               " ms is shorter than a trial (", trial_ms, " ms); whole-trial decoding needs model.window_ms >= ",
               trial_ms);
  CORTEX_CHECK(std::abs(config.bin_ms - bin_ms_) < 1e-9, kOp, config.name, " uses ", config.bin_ms,
               " ms bins but the data has ", bin_ms_, " ms bins");
  model_ = std::make_unique<nn::Cortex>(config, &gen_, options.dtype, options.device);
}

double CortexTask::trial_window_start() const {
  // Centred on the trial, on the bin grid so masked cells coincide with data bins.
  const double slack_bins = std::floor((config_.window_ms / bin_ms_ - static_cast<double>(bins_)) / 2.0);
  return -slack_bins * bin_ms_;
}

double CortexTask::jittered_window_start(uint64_t seed, uint64_t sample) const {
  const double start = trial_window_start();
  if (options_.window_jitter_ms <= 0.0) return start;
  // The trial [0, bins * bin_ms) must stay inside [start, start + window): drawn uniformly from
  // the part of [start - jitter, start + jitter] that keeps it there (no pile-up at the edges).
  const double lowest = static_cast<double>(bins_) * bin_ms_ - config_.window_ms, highest = 0.0;
  return random_in(std::max(lowest, start - options_.window_jitter_ms), std::min(highest, start + options_.window_jitter_ms),
                   seed, sample);
}

double CortexTask::causal_window_start(int64_t bin) const {
  return static_cast<double>(bin + 1) * bin_ms_ - config_.window_ms;
}

CortexTask::BinWindow CortexTask::bin_window(int64_t bin) const {
  if (protocol_ == Protocol::causal) {
    const double start = causal_window_start(bin);
    return {start, static_cast<int64_t>(std::ceil(start / bin_ms_ - 1e-9)), bin};
  }
  // Centred on bin t on the bin grid: the window holds as many whole bins before t as after.
  const int64_t half = static_cast<int64_t>(std::floor(config_.window_ms / bin_ms_ - 1.0)) / 2;
  return {static_cast<double>(bin - half) * bin_ms_, bin - half, bin + half};
}

nn::SpikeEvents CortexTask::trial_events(const data::SampleSet& set, int64_t trial, int64_t first_bin,
                                         int64_t last_bin, double thin_p, uint64_t seed, uint64_t sample) const {
  const int64_t units = set.heldin_units();
  nn::SpikeEvents ev;
  first_bin = std::max<int64_t>(first_bin, 0);
  last_bin = std::min<int64_t>(last_bin, set.bins - 1);
  for (int64_t b = first_bin; b <= last_bin; ++b) {
    const float* row = set.heldin.data() + static_cast<size_t>((trial * set.bins + b) * units);
    for (int64_t u = 0; u < units; ++u) {
      const float c = row[u];
      if (c <= 0.0f) continue;
      CORTEX_CHECK(std::isfinite(c), kOp, "non-finite spike count in trial ", trial, " bin ", b, " unit ", u);
      const int32_t kept = thin_count(static_cast<int32_t>(std::lround(c)), thin_p, seed, sample,
                                      static_cast<uint64_t>(b * units + u));
      if (kept > 0) ev.push_back(static_cast<int32_t>(u), kept, (static_cast<double>(b) + 0.5) * bin_ms_);
    }
  }
  return ev;
}

int64_t CortexTask::num_samples(Phase phase) const {
  const int64_t train = static_cast<int64_t>(fold_.train_trials.size());
  if (phase == Phase::pretrain) return train + fold_.data->unlabelled.samples();
  return per_bin_samples() ? train * bins_ : train;
}

CortexTask::PretrainSample CortexTask::pretrain_sample(int64_t id) const {
  const int64_t train = static_cast<int64_t>(fold_.train_trials.size());
  if (id < train) return {&fold_.data->labelled, fold_.train_trials[static_cast<size_t>(id)]};
  return {&fold_.data->unlabelled, id - train};
}

Tensor CortexTask::masked_loss(const std::vector<PretrainSample>& samples, uint64_t seed) {
  nn::CortexInput input;
  const double start = protocol_ == Protocol::causal ? causal_window_start(bins_ - 1) : trial_window_start();
  for (const auto& s : samples) input.add_sample(trial_events(*s.set, s.trial, 0, bins_ - 1), start);
  nn::MaskedBatch masked = nn::mask_spike_cells(input, config_.window_ms, config_.bin_ms, options_.mask_ratio, seed);
  // Keep only cells inside the trial: outside it the "silence" is missing data.
  const double trial_end = static_cast<double>(bins_) * bin_ms_;
  nn::MaskedSpikeQueries q;
  const auto& all = masked.queries;
  for (int64_t b = 0; b < all.segments.samples(); ++b) {
    for (int64_t i = all.segments.begin(b); i < all.segments.begin(b) + all.segments.size(b); ++i) {
      const double t = all.time_ms[static_cast<size_t>(i)];
      if (t < 0.0 || t >= trial_end) continue;
      q.unit.push_back(all.unit[static_cast<size_t>(i)]);
      q.time_ms.push_back(t);
      q.target.push_back(all.target[static_cast<size_t>(i)]);
    }
    q.segments.offsets.push_back(q.size());
  }
  CORTEX_CHECK(q.size() > 0, kOp, "no masked cell fell inside the batch's trials (are they all silent?)");
  const Tensor latents = model_->encode(masked.input);
  const Tensor log_rate = to(model_->masked_spike_log_rate(latents, masked.input.window_start_ms, q), DType::f32);
  const Tensor target = from_vector(q.target, {q.size()}, model_->device());
  return poisson_nll_loss(log_rate, target);
}

Tensor CortexTask::batch_loss(Phase phase, const std::vector<int64_t>& ids, uint64_t seed) {
  if (phase == Phase::pretrain) {
    std::vector<PretrainSample> samples;
    for (int64_t id : ids) samples.push_back(pretrain_sample(id));
    return masked_loss(samples, seed);
  }
  const auto& set = fold_.data->labelled;
  const int64_t c_n = set.behavior_dims;
  nn::CortexInput input;
  nn::BehaviourQueries queries;
  std::vector<float> target;
  const double thin = options_.spike_dropout;
  for (size_t k = 0; k < ids.size(); ++k) {
    const int64_t id = ids[k];
    if (!per_bin_samples()) {
      const int64_t trial = fold_.train_trials[static_cast<size_t>(id)];
      const BinRange crop = random_crop(bins_, options_.crop_min_bins, seed, k);
      input.add_sample(trial_events(set, trial, crop.first, crop.last, thin, seed, k), jittered_window_start(seed, k));
      std::vector<double> times;
      for (int64_t b = crop.first; b <= crop.last; ++b) times.push_back((static_cast<double>(b) + 0.5) * bin_ms_);
      queries.add_sample(times);
      const std::vector<float> t = scaled_targets(trial);
      target.insert(target.end(), t.begin() + crop.first * c_n, t.begin() + (crop.last + 1) * c_n);
    } else {
      const int64_t trial = fold_.train_trials[static_cast<size_t>(id / bins_)];
      const int64_t bin = id % bins_;
      const BinWindow w = bin_window(bin);
      input.add_sample(trial_events(set, trial, w.first_bin, w.last_bin, thin, seed, k), w.start_ms);
      queries.add_sample({(static_cast<double>(bin) + 0.5) * bin_ms_});
      const std::vector<float> t = scaled_targets(trial);
      target.insert(target.end(), t.begin() + bin * c_n, t.begin() + (bin + 1) * c_n);
    }
  }
  const Tensor pred = to(model_->forward(input, queries), DType::f32);
  const Tensor y = from_vector(target, {static_cast<int64_t>(target.size()) / c_n, c_n}, model_->device());
  return mse_loss(pred, y);
}

std::vector<float> CortexTask::predict(const data::SampleSet& set, const std::vector<int64_t>& trials) {
  NoGradGuard no_grad;
  CORTEX_CHECK(set.bins == bins_ && set.heldin_units() == fold_.data->units(), kOp, "predict: the set has ",
               set.heldin_units(), " units x ", set.bins, " bins but the model was built for ", fold_.data->units(),
               " x ", bins_);
  const int64_t c_n = config_.outputs;
  std::vector<float> out;
  out.reserve(trials.size() * static_cast<size_t>(bins_ * c_n));
  // Work items: (trial, bin) windows for per-bin samples, whole trials otherwise.
  struct Item {
    int64_t trial, bin;
  };
  std::vector<Item> items;
  for (int64_t t : trials) {
    if (!per_bin_samples()) items.push_back({t, -1});
    else
      for (int64_t b = 0; b < bins_; ++b) items.push_back({t, b});
  }
  const int64_t chunk =
      per_bin_samples() ? options_.predict_batch : std::max<int64_t>(1, options_.predict_batch / 8);
  for (size_t begin = 0; begin < items.size(); begin += static_cast<size_t>(chunk)) {
    const size_t end = std::min(items.size(), begin + static_cast<size_t>(chunk));
    nn::CortexInput input;
    nn::BehaviourQueries queries;
    for (size_t i = begin; i < end; ++i) {
      const Item& it = items[i];
      if (it.bin < 0) {
        input.add_sample(trial_events(set, it.trial, 0, bins_ - 1), trial_window_start());
        std::vector<double> times;
        for (int64_t b = 0; b < bins_; ++b) times.push_back((static_cast<double>(b) + 0.5) * bin_ms_);
        queries.add_sample(times);
      } else {
        const BinWindow w = bin_window(it.bin);
        input.add_sample(trial_events(set, it.trial, w.first_bin, w.last_bin), w.start_ms);
        queries.add_sample({(static_cast<double>(it.bin) + 0.5) * bin_ms_});
      }
    }
    const std::vector<float> pred = to(model_->forward(input, queries), DType::f32).to_vector<float>();
    for (size_t i = 0; i < pred.size(); ++i)
      out.push_back(static_cast<float>(fold_.scaling.restore(pred[i], static_cast<int64_t>(i % static_cast<size_t>(c_n)))));
  }
  return out;
}

nlohmann::json CortexTask::evaluate(Phase phase) {
  if (phase == Phase::finetune) return DecodingTask::evaluate(phase);
  if (fold_.test_trials.empty()) return nlohmann::json::object();
  NoGradGuard no_grad;
  std::vector<PretrainSample> samples;
  for (int64_t t : fold_.test_trials) samples.push_back({&fold_.data->labelled, t});
  // A fixed mask, so evaluations at different steps compare like with like.
  return {{"masked_poisson_nll", masked_loss(samples, 0x5eedull).item()}};
}

nn::Metadata CortexTask::checkpoint_metadata() const {
  nn::Metadata m = common_metadata();
  m["model_config"] = options_.model_yaml;
  m["model"] = "cortex";
  m["name"] = config_.name;
  m["trial_window_start_ms"] = std::to_string(trial_window_start());
  return m;
}

}  // namespace cortex::train
