#include "train/trainer_sequence_task.h"

#include <algorithm>

#include "autograd/grad_mode.h"
#include "engine/error.h"
#include "engine/factory.h"
#include "nn/baselines/gru.h"
#include "nn/baselines/transformer.h"
#include "ops/ops.h"
#include "train/trainer_augment.h"

namespace cortex::train {

SequenceTask::SequenceTask(const nn::ModelConfig& model, const FoldData& fold, Protocol protocol,
                           const SequenceTaskOptions& options)
    : DecodingTask(fold, protocol), config_(model), options_(options), gen_(options.seed) {
  const auto& d = *fold.data;
  if (model.kind == nn::ModelKind::gru) {
    CORTEX_CHECK(model.gru.units == d.units() && model.gru.outputs == d.outputs(), "SequenceTask",
                 "GRU built for ", model.gru.units, " units and ", model.gru.outputs, " outputs but the data has ",
                 d.units(), " and ", d.outputs());
    CORTEX_CHECK(model.gru.bidirectional == (protocol == Protocol::noncausal), "SequenceTask",
                 "a ", protocol_name(protocol), " GRU must be ", protocol == Protocol::causal ? "uni" : "bi",
                 "directional");
    module_ = std::make_shared<nn::GRUDecoder>(model.gru, &gen_, options.dtype, options.device);
  } else if (model.kind == nn::ModelKind::transformer) {
    CORTEX_CHECK(model.transformer.units == d.units() && model.transformer.outputs == d.outputs(), "SequenceTask",
                 "Transformer built for ", model.transformer.units, " units and ", model.transformer.outputs,
                 " outputs but the data has ", d.units(), " and ", d.outputs());
    CORTEX_CHECK(model.transformer.max_bins >= d.bins(), "SequenceTask", "Transformer max_bins ",
                 model.transformer.max_bins, " is shorter than a trial of ", d.bins(), " bins");
    CORTEX_CHECK(model.transformer.causal == (protocol == Protocol::causal), "SequenceTask", "a ",
                 protocol_name(protocol), " Transformer must ", protocol == Protocol::causal ? "" : "not ",
                 "use the causal mask");
    module_ = std::make_shared<nn::TransformerDecoder>(model.transformer, &gen_, options.dtype, options.device);
  } else {
    CORTEX_FAIL("SequenceTask", "model family '", nn::model_kind_name(model.kind), "' is not a binned sequence model");
  }
}

Tensor SequenceTask::forward(const Tensor& counts) const {
  const Tensor x = to(counts, options_.dtype);
  Tensor y;
  if (config_.kind == nn::ModelKind::gru) y = static_cast<const nn::GRUDecoder&>(*module_).forward(x);
  else y = static_cast<const nn::TransformerDecoder&>(*module_).forward(x);
  return to(y, DType::f32);
}

Tensor SequenceTask::counts_of(const data::SampleSet& set, const std::vector<int64_t>& trials, double thin_p,
                               uint64_t seed) const {
  const int64_t per = set.bins * set.heldin_units();
  std::vector<float> x;
  x.reserve(trials.size() * static_cast<size_t>(per));
  for (size_t k = 0; k < trials.size(); ++k) {
    const int64_t t = trials[k];
    x.insert(x.end(), set.heldin.begin() + t * per, set.heldin.begin() + (t + 1) * per);
    thin_counts(x.data() + k * static_cast<size_t>(per), per, thin_p, seed, k);
  }
  return from_vector(x, {static_cast<int64_t>(trials.size()), set.bins, set.heldin_units()}, options_.device);
}

int64_t SequenceTask::num_samples(Phase) const { return static_cast<int64_t>(fold_.train_trials.size()); }

Tensor SequenceTask::batch_loss(Phase phase, const std::vector<int64_t>& ids, uint64_t seed) {
  CORTEX_CHECK(phase == Phase::finetune, "SequenceTask", "the baselines have no pre-training phase");
  const auto& set = fold_.data->labelled;
  std::vector<int64_t> trials;
  std::vector<float> target;
  for (int64_t id : ids) {
    trials.push_back(fold_.train_trials[static_cast<size_t>(id)]);
    const std::vector<float> t = scaled_targets(trials.back());
    target.insert(target.end(), t.begin(), t.end());
  }
  const Tensor pred = forward(counts_of(set, trials, options_.spike_dropout, seed));
  const Tensor y = from_vector(target, pred.shape(), options_.device);
  return mse_loss(pred, y);
}

std::vector<float> SequenceTask::predict(const data::SampleSet& set, const std::vector<int64_t>& trials) {
  NoGradGuard no_grad;
  CORTEX_CHECK(set.heldin_units() == fold_.data->units(), "SequenceTask::predict", "the set has ",
               set.heldin_units(), " units but the model reads ", fold_.data->units());
  const int64_t c_n = fold_.data->outputs();
  std::vector<float> out;
  for (size_t begin = 0; begin < trials.size(); begin += static_cast<size_t>(options_.predict_batch)) {
    const size_t end = std::min(trials.size(), begin + static_cast<size_t>(options_.predict_batch));
    const std::vector<int64_t> chunk(trials.begin() + static_cast<std::ptrdiff_t>(begin),
                                     trials.begin() + static_cast<std::ptrdiff_t>(end));
    const std::vector<float> pred = forward(counts_of(set, chunk)).to_vector<float>();
    for (size_t i = 0; i < pred.size(); ++i)
      out.push_back(static_cast<float>(fold_.scaling.restore(pred[i], static_cast<int64_t>(i % static_cast<size_t>(c_n)))));
  }
  return out;
}

nn::Metadata SequenceTask::checkpoint_metadata() const {
  nn::Metadata m = common_metadata();
  m["model_config"] = options_.model_yaml;
  m["model"] = nn::model_kind_name(config_.kind);
  m["name"] = config_.kind == nn::ModelKind::gru ? config_.gru.name : config_.transformer.name;
  return m;
}

}  // namespace cortex::train
