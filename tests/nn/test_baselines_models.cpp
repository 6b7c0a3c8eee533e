// GRU and transformer baselines: sizes, a float64 reference GRU, gradients and causality.
#include <cmath>

#include "nn/baselines/gru.h"
#include "nn/baselines/transformer.h"
#include "nn/model_config.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::nn;

namespace {

GRUConfig tiny_gru(bool bidirectional) {
  GRUConfig c;
  c.units = 4;
  c.hidden = 5;
  c.layers = 2;
  c.bidirectional = bidirectional;
  return c;
}

TransformerConfig tiny_transformer(bool causal) {
  TransformerConfig c;
  c.units = 4;
  c.dim = 8;
  c.depth = 2;
  c.heads = 2;
  c.ffn_mult = 2;
  c.max_bins = 12;
  c.causal = causal;
  return c;
}

// One GRU layer direction in double on the host: x [B, T, I] -> h [B, T, H].
std::vector<double> reference_gru_layer(const GRULayer& layer, const std::vector<double>& x, int64_t b, int64_t t_len,
                                        int64_t in, int64_t h, bool reverse) {
  const auto wi = layer.input_proj->weight.to_vector<double>(), bi = layer.input_proj->bias.to_vector<double>();
  const auto wh = layer.hidden_proj->weight.to_vector<double>(), bh = layer.hidden_proj->bias.to_vector<double>();
  std::vector<double> out(static_cast<size_t>(b * t_len * h));
  auto sig = [](double v) { return 1.0 / (1.0 + std::exp(-v)); };
  for (int64_t s = 0; s < b; ++s) {
    std::vector<double> state(static_cast<size_t>(h), 0.0);
    for (int64_t i = 0; i < t_len; ++i) {
      const int64_t t = reverse ? t_len - 1 - i : i;
      std::vector<double> gx(static_cast<size_t>(3 * h)), gh(static_cast<size_t>(3 * h));
      for (int64_t g = 0; g < 3 * h; ++g) {
        double a = bi[static_cast<size_t>(g)], c = bh[static_cast<size_t>(g)];
        for (int64_t k = 0; k < in; ++k)
          a += wi[static_cast<size_t>(g * in + k)] * x[static_cast<size_t>((s * t_len + t) * in + k)];
        for (int64_t k = 0; k < h; ++k) c += wh[static_cast<size_t>(g * h + k)] * state[static_cast<size_t>(k)];
        gx[static_cast<size_t>(g)] = a;
        gh[static_cast<size_t>(g)] = c;
      }
      for (int64_t k = 0; k < h; ++k) {
        const size_t r_i = static_cast<size_t>(k), z_i = static_cast<size_t>(h + k),
                     n_i = static_cast<size_t>(2 * h + k);
        const double r = sig(gx[r_i] + gh[r_i]), z = sig(gx[z_i] + gh[z_i]);
        const double n = std::tanh(gx[n_i] + r * gh[n_i]);
        state[static_cast<size_t>(k)] = (1 - z) * n + z * state[static_cast<size_t>(k)];
      }
      for (int64_t k = 0; k < h; ++k) out[static_cast<size_t>((s * t_len + t) * h + k)] = state[static_cast<size_t>(k)];
    }
  }
  return out;
}

// Max |a - b| over the first `bins` time steps of [B, T, C] outputs.
double prefix_difference(const Tensor& a, const Tensor& b, int64_t bins) {
  const auto va = narrow(a, 1, 0, bins).to_vector<double>(), vb = narrow(b, 1, 0, bins).to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::abs(va[i] - vb[i]));
  return m;
}

}  // namespace

TEST_CASE("baseline sizes: GRU about 660 K in both protocols, transformer about 5 M") {
  ModelConfig gru = load_model_config("gru");
  gru.apply_protocol(true);
  CHECK_FALSE(gru.gru.bidirectional);
  const double causal = static_cast<double>(parameter_count(gru));
  gru.apply_protocol(false);
  CHECK(gru.gru.bidirectional);
  const double bidirectional = static_cast<double>(parameter_count(gru));
  ModelConfig tr = load_model_config("transformer");
  const double transformer = static_cast<double>(parameter_count(tr));
  MESSAGE("GRU causal ", causal, ", bidirectional ", bidirectional, "; transformer ", transformer);
  CHECK(std::abs(causal - 660e3) / 660e3 <= 0.03);
  CHECK(std::abs(bidirectional - 660e3) / 660e3 <= 0.03);
  CHECK(std::abs(transformer - 5e6) / 5e6 <= 0.03);
  // The analytic counts are the built models' counts.
  CHECK(GRUDecoder(gru.gru).num_parameters() == gru_parameter_count(gru.gru));
  gru.apply_protocol(true);
  CHECK(GRUDecoder(gru.gru).num_parameters() == gru_parameter_count(gru.gru));
  CHECK(TransformerDecoder(tiny_transformer(false)).num_parameters() ==
        transformer_parameter_count(tiny_transformer(false)));
}

TEST_CASE("the GRU matches a float64 reference, both directions") {
  for (bool bidirectional : {false, true}) {
    INFO("bidirectional ", bidirectional);
    const GRUConfig c = tiny_gru(bidirectional);
    Generator gen(2);
    GRUDecoder model(c, &gen, DType::f64);
    const int64_t b = 2, t_len = 7;
    const Tensor x = test::random({b, t_len, c.units}, 5);
    std::vector<double> h = test::values(x);
    int64_t in = c.units;
    for (size_t l = 0; l < model.layers->size(); ++l) {
      const auto fwd = reference_gru_layer(*model.layers->get<GRULayer>(l), h, b, t_len, in, c.hidden, false);
      if (!bidirectional) {
        h = fwd;
      } else {
        const auto bwd = reference_gru_layer(*model.reverse_layers->get<GRULayer>(l), h, b, t_len, in, c.hidden, true);
        h.assign(static_cast<size_t>(b * t_len * 2 * c.hidden), 0.0);
        for (int64_t r = 0; r < b * t_len; ++r)
          for (int64_t k = 0; k < c.hidden; ++k) {
            h[static_cast<size_t>(r * 2 * c.hidden + k)] = fwd[static_cast<size_t>(r * c.hidden + k)];
            h[static_cast<size_t>(r * 2 * c.hidden + c.hidden + k)] = bwd[static_cast<size_t>(r * c.hidden + k)];
          }
      }
      in = (bidirectional ? 2 : 1) * c.hidden;
    }
    const Tensor hidden = from_vector(h, {b, t_len, in});
    const Tensor expected = linear(hidden, model.readout->weight.detach(), model.readout->bias.detach());
    test::expect_close(model.forward(x), expected, 1e-10, 1e-12);
    test::expect_close(model.forward(data_to_dtype(x, DType::f32)), expected, 1e-4, 1e-5, "f32 input");
  }
}

TEST_CASE("GRU and transformer pass finite-difference gradient checks in float64") {
  GRUDecoder gru(tiny_gru(true), nullptr, DType::f64);
  test::gradcheck([&](const std::vector<Tensor>& in) { return gru.forward(in[0]); }, {test::random({2, 5, 4}, 8)}, 1e-6,
                  1e-5, 1e-7, "gru input");
  TransformerDecoder tr(tiny_transformer(true), nullptr, DType::f64);
  test::gradcheck([&](const std::vector<Tensor>& in) { return tr.forward(in[0]); }, {test::random({2, 6, 4}, 9)}, 1e-6,
                  1e-5, 1e-7, "causal transformer input");
  test::gradcheck([&](const std::vector<Tensor>& in) { return causal_attention(in[0], in[1], in[2]); },
                  {test::random({2, 5, 3}, 1), test::random({2, 5, 3}, 2), test::random({2, 5, 4}, 3)}, 1e-6, 1e-5,
                  1e-7, "causal_attention");
}

TEST_CASE("causal attention matches a float64 reference that ignores later keys") {
  const int64_t t = 7, d = 3;
  const Tensor q = test::random({t, d}, 4), k = test::random({t, d}, 5), v = test::random({t, 2}, 6);
  const auto vq = test::values(q), vk = test::values(k), vv = test::values(v);
  std::vector<double> expected(static_cast<size_t>(t * 2));
  for (int64_t i = 0; i < t; ++i) {
    std::vector<double> w(static_cast<size_t>(i + 1));
    double m = -1e300, z = 0;
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t c = 0; c < d; ++c) s += vq[static_cast<size_t>(i * d + c)] * vk[static_cast<size_t>(j * d + c)];
      w[static_cast<size_t>(j)] = s / std::sqrt(3.0);
      m = std::max(m, w[static_cast<size_t>(j)]);
    }
    for (double& x : w) z += (x = std::exp(x - m));
    for (int64_t c = 0; c < 2; ++c) {
      double s = 0;
      for (int64_t j = 0; j <= i; ++j) s += w[static_cast<size_t>(j)] / z * vv[static_cast<size_t>(j * 2 + c)];
      expected[static_cast<size_t>(i * 2 + c)] = s;
    }
  }
  test::expect_close(causal_attention(q, k, v), from_vector(expected, {t, 2}), 1e-12, 1e-12);
  test::expect_close(
      causal_attention(data_to_dtype(q, DType::f32), data_to_dtype(k, DType::f32), data_to_dtype(v, DType::f32)),
      from_vector(expected, {t, 2}), 1e-5, 1e-6, "f32");
}

TEST_CASE("causal baselines: outputs at bin t ignore later bins; non-causal ones do not") {
  const Tensor x = test::random_uniform({2, 10, 4}, 3, 0.0, 3.0, DType::f32);
  Tensor later = contiguous_copy(x);
  copy_(narrow(later, 1, 6, 4), test::random_uniform({2, 4, 4}, 4, 0.0, 3.0, DType::f32));
  NoGradGuard no_grad;
  {
    GRUDecoder causal(tiny_gru(false));
    CHECK(prefix_difference(causal.forward(x), causal.forward(later), 6) == 0.0);
    CHECK(prefix_difference(causal.forward(x), causal.forward(later), 7) > 0.0);
    GRUDecoder bidirectional(tiny_gru(true));
    CHECK(prefix_difference(bidirectional.forward(x), bidirectional.forward(later), 6) > 1e-6);
  }
  {
    TransformerDecoder causal(tiny_transformer(true));
    CHECK(prefix_difference(causal.forward(x), causal.forward(later), 6) <= 1e-6);
    CHECK(prefix_difference(causal.forward(x), causal.forward(later), 7) > 1e-4);
    TransformerDecoder full(tiny_transformer(false));
    CHECK(prefix_difference(full.forward(x), full.forward(later), 6) > 1e-4);
  }
}

TEST_CASE("baselines check their input") {
  GRUDecoder gru(tiny_gru(false));
  CHECK_THROWS_WITH_AS(gru.forward(zeros({2, 3, 5})), doctest::Contains("expected counts [B, T, 4]"), Error);
  TransformerDecoder tr(tiny_transformer(false));
  CHECK_THROWS_WITH_AS(tr.forward(zeros({1, 13, 4})), doctest::Contains("exceed the learned positions"), Error);
  CHECK(tr.forward(zeros({3, 12, 4})).shape() == Shape{3, 12, 2});
  CHECK(gru.forward(zeros({3, 1, 4})).shape() == Shape{3, 1, 2});
}
