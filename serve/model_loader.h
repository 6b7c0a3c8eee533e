#pragma once
// Builds the decoder the server was asked for: a trained checkpoint (--model FILE.safetensors,
// whose __metadata__ holds the model config and output scaling) or a named configuration with
// random weights (--init cortex-xs, or --init reference for the linear baseline).
#include <memory>

#include "serve/config.h"
#include "serve/decoder.h"

namespace cortex::serve {

// Throws cortex::Error with a clear message when neither or both are given, the file is
// unreadable, or the config is unknown.
std::unique_ptr<Decoder> load_decoder(const ServerConfig& config);

}  // namespace cortex::serve
