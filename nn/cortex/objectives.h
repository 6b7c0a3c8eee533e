#pragma once
// Training objectives of Cortex: behaviour regression and masked-spike Poisson likelihood.
#include <vector>

#include "engine/tensor.h"
#include "nn/cortex/spike_batch.h"

namespace cortex::nn {

// Mean squared error of predicted behaviour [Nq, outputs] against host targets given
// row-major (Nq * outputs values).
Tensor behaviour_loss(const Tensor& prediction, const std::vector<float>& target);
// Mean Poisson negative log-likelihood of the masked cells' counts under log rates [Nm].
Tensor masked_spike_loss(const Tensor& log_rate, const MaskedSpikeQueries& queries);

}  // namespace cortex::nn
