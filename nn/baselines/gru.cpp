#include "nn/baselines/gru.h"

#include <vector>

#include "engine/factory.h"
#include "ops/elementwise.h"
#include "ops/shape_ops.h"
#include "ops/views.h"

namespace cortex::nn {

GRULayer::GRULayer(int64_t input, int64_t hidden, bool reverse, Generator* gen, DType dtype, Device device)
    : hidden_(hidden), reverse_(reverse) {
  input_proj = register_module("input_proj", std::make_shared<Linear>(input, 3 * hidden, true, gen, dtype, device));
  hidden_proj = register_module("hidden_proj", std::make_shared<Linear>(hidden, 3 * hidden, true, gen, dtype, device));
}

Tensor GRULayer::step(const Tensor& xg, const Tensor& h) const {
  const Tensor hg = hidden_proj->forward(h);
  auto gate = [&](const Tensor& g, int64_t i) { return narrow(g, 1, i * hidden_, hidden_); };
  const Tensor r = sigmoid(add(gate(xg, 0), gate(hg, 0)));
  const Tensor z = sigmoid(add(gate(xg, 1), gate(hg, 1)));
  const Tensor n = tanh(add(gate(xg, 2), mul(r, gate(hg, 2))));
  return add(n, mul(z, sub(h, n)));  // (1 - z) * n + z * h
}

Tensor GRULayer::forward(const Tensor& x) const {
  CORTEX_CHECK(x.dim() == 3 && x.size(2) == input_proj->in_features(), "GRULayer", "expected x [B, T, ",
               input_proj->in_features(), "], got ", x.describe());
  const int64_t b = x.size(0), t_len = x.size(1);
  const Tensor xg = input_proj->forward(x);  // all time steps' input gates at once
  Tensor h = zeros({b, hidden_}, x.dtype(), x.device());
  std::vector<Tensor> states(static_cast<size_t>(t_len));
  for (int64_t i = 0; i < t_len; ++i) {
    const int64_t t = reverse_ ? t_len - 1 - i : i;
    h = step(squeeze(narrow(xg, 1, t, 1), 1), h);
    states[static_cast<size_t>(t)] = h;
  }
  if (t_len == 0) return zeros({b, 0, hidden_}, x.dtype(), x.device());
  return stack(states, 1);
}

GRUDecoder::GRUDecoder(const GRUConfig& config, Generator* gen, DType dtype, Device device) : config_(config) {
  config.validate();
  const int64_t dirs = config.bidirectional ? 2 : 1;
  layers = register_module("layers", std::make_shared<ModuleList>());
  if (config.bidirectional) reverse_layers = register_module("reverse_layers", std::make_shared<ModuleList>());
  for (int64_t l = 0; l < config.layers; ++l) {
    const int64_t input = l == 0 ? config.units : dirs * config.hidden;
    layers->push_back(std::make_shared<GRULayer>(input, config.hidden, false, gen, dtype, device));
    if (config.bidirectional)
      reverse_layers->push_back(std::make_shared<GRULayer>(input, config.hidden, true, gen, dtype, device));
  }
  drop = register_module("drop", std::make_shared<Dropout>(config.dropout, gen));
  readout = register_module("readout",
                            std::make_shared<Linear>(dirs * config.hidden, config.outputs, true, gen, dtype, device));
}

Tensor GRUDecoder::forward(const Tensor& counts) const {
  CORTEX_CHECK(counts.defined() && counts.dim() == 3 && counts.size(2) == config_.units, "GRUDecoder",
               "expected counts [B, T, ", config_.units, "], got ", describe(counts));
  const DType dtype = readout->weight.dtype();
  Tensor x = counts.dtype() == dtype ? counts : cortex::to(counts, dtype);
  for (size_t l = 0; l < layers->size(); ++l) {
    if (l > 0) x = drop->forward(x);
    const Tensor fwd = layers->get<GRULayer>(l)->forward(x);
    x = config_.bidirectional ? cat({fwd, reverse_layers->get<GRULayer>(l)->forward(x)}, -1) : fwd;
  }
  return readout->forward(x);
}

int64_t gru_parameter_count(const GRUConfig& c) {
  const int64_t dirs = c.bidirectional ? 2 : 1, h = c.hidden;
  int64_t total = 0;
  for (int64_t l = 0; l < c.layers; ++l) {
    const int64_t input = l == 0 ? c.units : dirs * h;
    total += dirs * 3 * (input * h + h * h + 2 * h);
  }
  return total + dirs * h * c.outputs + c.outputs;
}

}  // namespace cortex::nn
