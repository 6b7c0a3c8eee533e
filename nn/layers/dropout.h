#pragma once
#include "engine/generator.h"
#include "nn/module.h"

namespace cortex::nn {

// Inverted dropout while training, the identity in eval mode. The mask comes from `gen`
// (the default generator when null), so a seeded run repeats exactly.
class Dropout : public Module {
 public:
  explicit Dropout(double p, Generator* gen = nullptr);
  Tensor forward(const Tensor& x) const;
  double p() const { return p_; }

 private:
  double p_;
  Generator* gen_;
};

}  // namespace cortex::nn
