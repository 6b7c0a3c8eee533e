#include "serve/model_loader.h"

#include <fstream>
#include <sstream>

#include "nn/model_config.h"
#include "nn/safetensors.h"
#include "serve/cortex_decoder.h"
#include "serve/reference_decoder.h"
#ifdef CORTEX_WITH_CUDA
#include "cuda/runtime.h"
#endif

namespace cortex::serve {

namespace {

nlohmann::json cortex_config_json(const nn::CortexConfig& c) {
  return {{"model", "cortex"},     {"name", c.name},           {"dim", c.dim},
          {"depth", c.depth},      {"heads", c.heads},         {"latents", c.latents},
          {"ffn_mult", c.ffn_mult}, {"unit_vocab", c.unit_vocab}, {"max_count", c.max_count},
          {"window_ms", c.window_ms}, {"bin_ms", c.bin_ms},   {"outputs", c.outputs},
          {"time_bin_embedding", c.time_bin_embedding}};
}

// FNV-1a of the file's header and size: a cheap, stable version string for a checkpoint.
std::string checkpoint_version(const std::string& path, const nn::Metadata& meta) {
  uint64_t h = 1469598103934665603ull;
  auto mix = [&](const std::string& s) {
    for (unsigned char ch : s) h = (h ^ ch) * 1099511628211ull;
  };
  for (const auto& [k, v] : meta) mix(k + "=" + v + ";");
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  mix(std::to_string(static_cast<int64_t>(f.tellg())));
  std::ostringstream os;
  os << std::hex << h;
  std::string step;
  if (auto it = meta.find("step"); it != meta.end()) step = "step" + it->second + "-";
  return step + os.str().substr(0, 12);
}

// What the server's settings tell a Cortex decoder: whether to replay CUDA graphs, the
// largest batch it will be given and how many batches may decode at once (the workers).
void apply_server_settings(CortexServingOptions& options, const ServerConfig& config) {
  options.cuda_graphs = config.cuda_graphs;
  options.max_batch = config.batching ? config.max_batch : 1;
  options.concurrent_batches = config.workers;
}

std::unique_ptr<Decoder> load_checkpoint(const ServerConfig& config, Device device) {
  const nn::SafetensorsHeader header = nn::read_safetensors_header(config.model_path);
  auto it = header.metadata.find("model_config");
  CORTEX_CHECK(it != header.metadata.end(), "cortex-serve", "'", config.model_path,
               "' has no model_config in its __metadata__; is it a model checkpoint written by cortex-train?");
  const nn::ModelConfig mc = nn::parse_model_config(it->second, config.model_path + " (__metadata__.model_config)");
  CORTEX_CHECK(mc.kind == nn::ModelKind::cortex, "cortex-serve", "'", config.model_path, "' holds a ",
               nn::model_kind_name(mc.kind), " model; the server serves Cortex models");
  auto model = std::make_unique<nn::Cortex>(mc.cortex, nullptr, DType::f32, device);
  const nn::SafetensorsFile file = nn::load_safetensors(config.model_path, device);
  model->load_state_dict(file.tensors);
  model->to(dtype_from_name(config.dtype));
  CortexServingOptions options;
  options.version = checkpoint_version(config.model_path, header.metadata);
  options.config = cortex_config_json(mc.cortex);
  options.config["checkpoint"] = config.model_path;
  for (const char* key : {"step", "protocol", "units", "data"})
    if (auto m = header.metadata.find(key); m != header.metadata.end()) options.config[key] = m->second;
  if (auto s = header.metadata.find("output_scaling"); s != header.metadata.end()) {
    const nlohmann::json scaling = nlohmann::json::parse(s->second, nullptr, false);
    CORTEX_CHECK(scaling.is_object() && scaling.contains("mean") && scaling.contains("std"), "cortex-serve", "'",
                 config.model_path, "' has a malformed output_scaling entry: ", s->second);
    options.out_mean = scaling["mean"].get<std::vector<double>>();
    options.out_std = scaling["std"].get<std::vector<double>>();
  }
  if (auto b = header.metadata.find("bin_ms"); b != header.metadata.end()) options.query_bin_ms = std::stod(b->second);
  apply_server_settings(options, config);
  return std::make_unique<CortexDecoder>(std::move(model), options);
}

}  // namespace

std::unique_ptr<Decoder> load_decoder(const ServerConfig& config) {
  CORTEX_CHECK(!(config.model_path.empty() && config.init_config.empty()), "cortex-serve",
               "nothing to serve: pass --model FILE.safetensors (a trained checkpoint) or --init CONFIG "
               "(random weights, e.g. --init cortex-xs)");
  CORTEX_CHECK(config.model_path.empty() || config.init_config.empty(), "cortex-serve",
               "pass either --model or --init, not both");
  const Device device = parse_device(config.device);
#ifdef CORTEX_WITH_CUDA
  // Before the model's first upload, so every wait of this process on the device uses it; auto
  // leaves the context's flags untouched.
  if (device.is_cuda() && config.cuda_wait != "auto")
    cuda::set_host_wait(device.index, cuda::host_wait_from_name(config.cuda_wait));
#endif
  if (!config.model_path.empty()) return load_checkpoint(config, device);
  if (config.init_config == "reference") {
    CORTEX_CHECK(config.dtype == "f32", "cortex-serve", "the reference decoder computes in f64; --dtype ",
                 config.dtype, " applies to Cortex models only");
    ReferenceConfig rc;
    rc.seed = config.init_seed;
    return std::make_unique<ReferenceDecoder>(rc);
  }
  const nn::CortexConfig cc = nn::load_cortex_config(config.init_config);
  Generator gen(config.init_seed);
  // Initialised in f32 and then converted, so every dtype serves the same weights.
  auto model = std::make_unique<nn::Cortex>(cc, &gen, DType::f32, device);
  model->to(dtype_from_name(config.dtype));
  CortexServingOptions options;
  options.version = "init-" + std::to_string(config.init_seed);
  options.config = cortex_config_json(cc);
  apply_server_settings(options, config);
  return std::make_unique<CortexDecoder>(std::move(model), options);
}

}  // namespace cortex::serve
