#pragma once
// The GRU baseline: binned spike counts [B, T, units] -> behaviour [B, T, outputs] through
// a stack of GRU layers (bidirectional for the non-causal protocol) and a linear read-out.
// The cell is composed of differentiable ops (linear, sigmoid, tanh, mul), so autograd
// unrolls it through time and it runs on any device.
#include <memory>

#include "nn/layers/dropout.h"
#include "nn/layers/linear.h"
#include "nn/model_config.h"
#include "nn/module.h"

namespace cortex::nn {

// One direction of one layer:
//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
//   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
//   h' = (1 - z) * n + z * h
class GRULayer : public Module {
 public:
  GRULayer(int64_t input, int64_t hidden, bool reverse, Generator* gen, DType dtype, Device device);
  // x [B, T, input] -> hidden states [B, T, hidden], from t = 0 (or from the end when reverse).
  Tensor forward(const Tensor& x) const;
  // One step: input projection xg [B, 3 * hidden] (W_i x + b_i) and state h [B, hidden].
  Tensor step(const Tensor& xg, const Tensor& h) const;

  std::shared_ptr<Linear> input_proj;   // [3H, input]: r, z, n gates
  std::shared_ptr<Linear> hidden_proj;  // [3H, H]

 private:
  int64_t hidden_;
  bool reverse_;
};

class GRUDecoder : public Module {
 public:
  explicit GRUDecoder(const GRUConfig& config, Generator* gen = nullptr, DType dtype = DType::f32,
                      Device device = Device::cpu());
  // counts [B, T, units] -> [B, T, outputs]; causal (output t sees bins <= t) unless bidirectional.
  Tensor forward(const Tensor& counts) const;
  const GRUConfig& config() const { return config_; }

  std::shared_ptr<ModuleList> layers;  // forward directions
  std::shared_ptr<ModuleList> reverse_layers;  // backward directions (bidirectional only)
  std::shared_ptr<Dropout> drop;
  std::shared_ptr<Linear> readout;

 private:
  GRUConfig config_;
};

int64_t gru_parameter_count(const GRUConfig& config);

}  // namespace cortex::nn
