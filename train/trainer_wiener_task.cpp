#include "train/trainer_wiener_task.h"

#include "autograd/grad_mode.h"
#include "engine/error.h"
#include "engine/factory.h"

namespace cortex::train {

WienerTask::WienerTask(const nn::ModelConfig& model, const FoldData& fold, Protocol protocol, std::string model_yaml)
    : DecodingTask(fold, protocol), config_(model.wiener), model_yaml_(std::move(model_yaml)) {
  CORTEX_CHECK(model.kind == nn::ModelKind::wiener, "WienerTask", "expected a wiener config, got ",
               nn::model_kind_name(model.kind));
  const auto& d = *fold.data;
  CORTEX_CHECK(config_.units == d.units() && config_.outputs == d.outputs(), "WienerTask", "filter built for ",
               config_.units, " units and ", config_.outputs, " outputs but the data has ", d.units(), " and ",
               d.outputs());
  if (protocol == Protocol::noncausal) config_.units = 2 * d.units();
  filter_ = std::make_unique<nn::WienerFilter>(config_);
}

Tensor WienerTask::design(const data::SampleSet& set, int64_t trial) const {
  const int64_t bins = set.bins, units = set.heldin_units();
  const float* counts = set.heldin.data() + static_cast<size_t>(trial * bins * units);
  if (protocol_ == Protocol::causal)
    return from_vector(std::vector<float>(counts, counts + bins * units), {bins, units});
  // Channel units + u at bin t holds unit u at bin t + lags - 1 (zero past the trial's end).
  const int64_t shift = config_.lags - 1;
  std::vector<float> x(static_cast<size_t>(bins * 2 * units), 0.0f);
  for (int64_t t = 0; t < bins; ++t)
    for (int64_t u = 0; u < units; ++u) {
      x[static_cast<size_t>(t * 2 * units + u)] = counts[t * units + u];
      if (t + shift < bins) x[static_cast<size_t>(t * 2 * units + units + u)] = counts[(t + shift) * units + u];
    }
  return from_vector(x, {bins, 2 * units});
}

void WienerTask::fit() {
  const auto& set = fold_.data->labelled;
  std::vector<Tensor> xs, ys;
  for (int64_t t : fold_.train_trials) {
    xs.push_back(design(set, t));
    const std::vector<float> y = scaled_targets(t);
    ys.push_back(from_vector(y, {set.bins, set.behavior_dims}));
  }
  report_ = filter_->fit(xs, ys);
}

Tensor WienerTask::batch_loss(Phase, const std::vector<int64_t>&, uint64_t) {
  CORTEX_FAIL("WienerTask", "the Wiener filter is fitted in closed form, not by gradient steps");
}

std::vector<float> WienerTask::predict(const data::SampleSet& set, const std::vector<int64_t>& trials) {
  NoGradGuard no_grad;
  CORTEX_CHECK(set.heldin_units() == fold_.data->units(), "WienerTask::predict", "the set has ", set.heldin_units(),
               " units but the filter reads ", fold_.data->units());
  const int64_t c_n = fold_.data->outputs();
  std::vector<float> out;
  for (int64_t t : trials) {
    const std::vector<float> pred = filter_->forward(design(set, t)).to_vector<float>();
    for (size_t i = 0; i < pred.size(); ++i)
      out.push_back(static_cast<float>(fold_.scaling.restore(pred[i], static_cast<int64_t>(i % static_cast<size_t>(c_n)))));
  }
  return out;
}

nn::Metadata WienerTask::checkpoint_metadata() const {
  nn::Metadata m = common_metadata();
  m["model_config"] = model_yaml_;
  m["model"] = "wiener";
  m["name"] = config_.name;
  m["ridge_lambda"] = std::to_string(report_.lambda);
  return m;
}

}  // namespace cortex::train
