#pragma once
#include "engine/generator.h"
#include "nn/layers/dropout.h"
#include "nn/module.h"
#include "ops/fused_linear.h"

namespace cortex::nn {

// y = act(x W^T + b) with W [out, in], or residual + x W^T + b. Weight and bias start uniform
// in ±1/sqrt(in). Without gradient recording on a GPU the bias, activation and residual run
// in the GEMM (ops/fused_linear.h).
class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias = true, Generator* gen = nullptr,
         DType dtype = DType::f32, Device device = Device::cpu());
  Tensor forward(const Tensor& x, LinearActivation act = LinearActivation::none,
                 const Tensor& residual = Tensor()) const;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  Tensor weight;
  Tensor bias;  // undefined without bias

 private:
  int64_t in_, out_;
};

// A residual branch's end: residual + drop(linear(x)). In eval the dropout is the identity,
// so the add runs inside the linear's GEMM there.
Tensor add_residual_branch(const Tensor& residual, const Linear& linear, const Dropout& drop, const Tensor& x);

}  // namespace cortex::nn
