#pragma once
#include "nn/module.h"

namespace cortex::nn {

// x / rms(x) * weight over the last dim; weight starts at one.
class RMSNorm : public Module {
 public:
  explicit RMSNorm(int64_t dim, double eps = 1e-6, DType dtype = DType::f32, Device device = Device::cpu());
  Tensor forward(const Tensor& x) const;
  double eps() const { return eps_; }
  Tensor weight;

 private:
  double eps_;
};

// (x - mean) / std * weight + bias over the last dim; weight one, bias zero (optional).
class LayerNorm : public Module {
 public:
  explicit LayerNorm(int64_t dim, double eps = 1e-5, bool bias = true, DType dtype = DType::f32,
                     Device device = Device::cpu());
  Tensor forward(const Tensor& x) const;
  double eps() const { return eps_; }
  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  double eps_;
};

}  // namespace cortex::nn
