// Losses composed of differentiable ops; their backward comes from the parts.
#include "ops/loss.h"

#include "ops/elementwise.h"
#include "ops/index_check.h"
#include "ops/index_ops.h"
#include "ops/nn_ops.h"
#include "ops/reduce.h"
#include "ops/views.h"

namespace cortex {
namespace {

Tensor reduce(const Tensor& per_element, Reduction reduction, const char* op) {
  switch (reduction) {
    case Reduction::none: return per_element;
    case Reduction::sum: return sum(per_element);
    case Reduction::mean:
      CORTEX_CHECK(per_element.numel() > 0, op, "mean over an empty batch");
      return mean(per_element);
  }
  CORTEX_FAIL(op, "unknown reduction");
}

void check_pair(const Tensor& input, const Tensor& target, const char* op, const char* input_name) {
  CORTEX_CHECK(input.defined() && target.defined(), op, "undefined ", input.defined() ? "target" : input_name);
  CORTEX_CHECK(is_floating(input.dtype()), op, input_name, " must be floating, got ", input.describe());
  CORTEX_CHECK(input.shape() == target.shape() && input.dtype() == target.dtype() &&
                   input.device() == target.device(),
               op, input_name, " ", input.describe(), " and target ", target.describe(),
               " must have the same shape, dtype and device");
}

}  // namespace

Tensor mse_loss(const Tensor& pred, const Tensor& target, Reduction reduction) {
  check_pair(pred, target, "mse_loss", "pred");
  return reduce(square(sub(pred, target)), reduction, "mse_loss");
}

Tensor poisson_nll_loss(const Tensor& log_rate, const Tensor& target, Reduction reduction) {
  check_pair(log_rate, target, "poisson_nll_loss", "log_rate");
  return reduce(sub(exp(log_rate), mul(target, log_rate)), reduction, "poisson_nll_loss");
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction) {
  const char* op = "cross_entropy";
  CORTEX_CHECK(logits.defined() && logits.dim() >= 1 && is_floating(logits.dtype()), op,
               "logits must be a floating [..., C] tensor, got ", logits.defined() ? logits.describe() : "undefined");
  check_index_tensor(target, logits, op, "target");
  const int64_t classes = logits.size(-1);
  const Shape batch(logits.shape().begin(), logits.shape().end() - 1);
  CORTEX_CHECK(target.shape() == batch, op, "target ", target.describe(), " must have shape ", shape_str(batch),
               " for logits ", logits.describe());
  if (auto bad = first_out_of_range(target, classes))
    CORTEX_FAIL(op, "class id ", *bad, " out of range [0, ", classes, ") for logits ", logits.describe());
  Tensor picked = gather(log_softmax(logits, -1), -1, unsqueeze(target.detach(), -1));
  return reduce(neg(squeeze(picked, -1)), reduction, op);
}

}  // namespace cortex
