#pragma once
// The Wiener filter baseline: linear regression of behaviour on the last `lags` bins of
// every unit's spike counts (current bin included), ridge-regularised and fitted in
// closed form by solving the normal equations with a Cholesky factorisation in double.
// The ridge strength is chosen by cross-validation on the training data.
#include <vector>

#include "nn/model_config.h"
#include "nn/module.h"

namespace cortex::nn {

struct WienerFitReport {
  double lambda = 0.0;            // chosen ridge strength (absolute)
  double lambda_relative = 0.0;   // the config value it came from
  std::vector<double> cv_mse;     // cross-validated MSE for each config lambda
  int64_t samples = 0;            // training bins
};

class WienerFilter : public Module {
 public:
  explicit WienerFilter(const WienerConfig& config, DType dtype = DType::f32, Device device = Device::cpu());

  // Fits on trials of binned counts [T_i, units] with behaviour [T_i, outputs] (any
  // device/dtype; the fit itself runs on the host in double). Lags never reach across
  // trials. Folds are contiguous blocks of the concatenated bins.
  WienerFitReport fit(const std::vector<Tensor>& counts, const std::vector<Tensor>& behaviour);

  // counts [..., T, units] -> behaviour [..., T, outputs], with the ops API on any device.
  Tensor forward(const Tensor& counts) const;
  // The lagged design [..., T, units * lags]: feature lag * units + u is unit u at t - lag.
  Tensor lagged_features(const Tensor& counts) const;

  const WienerConfig& config() const { return config_; }
  Tensor weight;  // [outputs, units * lags]
  Tensor bias;    // [outputs]

 private:
  WienerConfig config_;
};

int64_t wiener_parameter_count(const WienerConfig& config);

}  // namespace cortex::nn
