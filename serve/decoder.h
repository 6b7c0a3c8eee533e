#pragma once
// What the server needs from a model: decode a batch of windows, and for streams encode new
// events once into per-event rows (the encoder's keys/values) and decode from cached rows.
// Implementations: ReferenceDecoder (a linear readout of binned counts) and CortexDecoder.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/tensor.h"
#include "serve/window.h"

namespace cortex::serve {

struct ModelInfo {
  std::string name;       // "cortex-xs", "reference", ...
  std::string version;    // checkpoint digest or "init-<seed>"
  nlohmann::json config;  // the model's configuration as stored with the checkpoint
  int64_t parameters = 0;
  std::string dtype = "f32";
  Device device = Device::cpu();
  int64_t num_units = 0;   // vocabulary of unit ids
  int64_t output_dim = 2;  // velocity components
  double window_ms = 600.0;
  double stride_ms = 50.0;
};

// The rows of one stream's window, gathered from the cache: rows [n, row_width] on the
// decoder's device, with the events' absolute times (ms) and the window end.
struct CachedWindow {
  Tensor rows;
  std::vector<double> times_ms;
  double end_ms = 0.0;
};

class Decoder {
 public:
  virtual ~Decoder() = default;
  virtual const ModelInfo& info() const = 0;

  // Velocity (output_dim values) for each window. Windows are validated already.
  virtual std::vector<std::vector<float>> decode(const std::vector<const Window*>& windows) = 0;

  // Floats in one event's cached encoding.
  virtual int64_t row_width() const = 0;
  // Encodes events (absolute times) into rows [n, row_width] on the decoder's device. An
  // event's row depends on that event alone, so rows can be cached while the window slides.
  virtual Tensor encode_events(const Window& events) = 0;
  // Velocity for each window from its cached rows; equals decode() of the same events.
  virtual std::vector<std::vector<float>> decode_cached(const std::vector<const CachedWindow*>& windows) = 0;

  // Bytes held by the parameters (reported as device memory).
  virtual int64_t parameter_bytes() const = 0;

  // One-off preparation before the server reports ready, for batches of windows holding about
  // events_per_window events each (CortexDecoder captures its CUDA graphs). Optional.
  virtual void warm_up(int64_t events_per_window) {}
};

}  // namespace cortex::serve
