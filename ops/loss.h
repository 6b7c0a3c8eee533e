#pragma once
#include "engine/tensor.h"

namespace cortex {

enum class Reduction { mean, sum, none };

// mean((pred - target)^2)
Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction reduction = Reduction::mean);
// Poisson negative log-likelihood with log-rate input: exp(log_rate) - target * log_rate
// (the log(target!) constant omitted, as in PyTorch's default).
Tensor poisson_nll_loss(const Tensor& log_rate, const Tensor& target, Reduction reduction = Reduction::mean);
// logits [N, C] (or [..., C]) against integer class ids [N] (or [...]).
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::mean);

}  // namespace cortex
