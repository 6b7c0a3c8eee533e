// Configs load by name and path, reject bad input clearly, and give the published sizes.
#include <cstdlib>
#include <fstream>

#include "nn/cortex/cortex.h"
#include "nn/model_config.h"
#include "tests/nn/cortex_fixtures.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::nn;

namespace {

void check_size(const char* name, double published) {
  INFO(std::string(name));
  const CortexConfig c = load_cortex_config(name);
  const double count = static_cast<double>(cortex_parameter_count(c));
  MESSAGE(std::string(name), ": ", count, " parameters (published ", published, ")");
  CHECK(std::abs(count - published) / published <= 0.03);
}

}  // namespace

TEST_CASE("Cortex sizes match the published parameter counts within 3%") {
  check_size("cortex-xs", 4.83e6);
  check_size("cortex-s", 24.80e6);
  check_size("cortex-m", 83.51e6);
  CHECK(load_cortex_config("cortex-s").latents == 256);
}

TEST_CASE("the analytic Cortex parameter count equals the built model's") {
  CortexConfig tiny = test::tiny_cortex_config();
  CHECK(Cortex(tiny).num_parameters() == cortex_parameter_count(tiny));
  tiny.time_bin_embedding = true;
  CHECK(Cortex(tiny).num_parameters() == cortex_parameter_count(tiny));
}

TEST_CASE("model configs load by name and by path") {
  const ModelConfig by_name = load_model_config("cortex-s");
  CHECK(by_name.kind == ModelKind::cortex);
  CHECK(by_name.cortex.dim == 384);
  const ModelConfig by_path = load_model_config(by_name.source);
  CHECK(by_path.cortex.depth == by_name.cortex.depth);
  CHECK(load_model_config("gru").kind == ModelKind::gru);
  CHECK(load_model_config("transformer").kind == ModelKind::transformer);
  CHECK(load_model_config("wiener").wiener.lambdas.size() == 6);
}

TEST_CASE("bad configs raise errors naming the file and key") {
  auto message_of = [](const std::string& text) {
    try {
      parse_model_config(text, "t.yaml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK(message_of("dim: 4").find("missing key 'model'") != std::string::npos);
  CHECK(message_of("model: cortex\ndimm: 4").find("unknown key 'dimm'") != std::string::npos);
  CHECK(message_of("model: cortex\ndim: abc").find("key 'dim'") != std::string::npos);
  CHECK(message_of("model: cortex\ndim: 30\nheads: 4").find("not divisible") != std::string::npos);
  CHECK(message_of("model: cortex\nwindow_ms: 101\nbin_ms: 5").find("whole number of bins") != std::string::npos);
  CHECK(message_of("model: lstm").find("unknown model 'lstm'") != std::string::npos);
  CHECK(message_of("model: cortex\ndropout: 1.5").find("dropout") != std::string::npos);
  CHECK_THROWS_WITH_AS(load_model_config("no-such-config"), doctest::Contains("no config 'no-such-config'"), Error);
  CHECK_THROWS_WITH_AS(load_cortex_config("gru"), doctest::Contains("expected a cortex model"), Error);
}
