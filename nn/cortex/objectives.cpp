#include "nn/cortex/objectives.h"

#include "engine/factory.h"
#include "ops/loss.h"
#include "ops/views.h"

namespace cortex::nn {

Tensor behaviour_loss(const Tensor& prediction, const std::vector<float>& target) {
  CORTEX_CHECK(prediction.dim() == 2 && static_cast<int64_t>(target.size()) == prediction.numel(), "behaviour_loss",
               "prediction ", prediction.describe(), " needs ", prediction.numel(), " target values, got ",
               target.size());
  const Tensor t = data_to_dtype(from_vector(target, prediction.shape(), prediction.device()), prediction.dtype());
  return mse_loss(prediction, t);
}

Tensor masked_spike_loss(const Tensor& log_rate, const MaskedSpikeQueries& queries) {
  CORTEX_CHECK(log_rate.dim() == 1 && log_rate.size(0) == queries.size() &&
                   static_cast<int64_t>(queries.target.size()) == queries.size(),
               "masked_spike_loss", "log rates ", log_rate.describe(), " do not match ", queries.size(),
               " masked cells with ", queries.target.size(), " targets");
  CORTEX_CHECK(queries.size() > 0, "masked_spike_loss", "no masked cells: nothing to score");
  const Tensor t = data_to_dtype(from_vector(queries.target, {queries.size()}, log_rate.device()), log_rate.dtype());
  return poisson_nll_loss(log_rate, t);
}

}  // namespace cortex::nn
