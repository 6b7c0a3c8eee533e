// Building blocks of Cortex: time rotary embedding and packed (segmented) attention.
#include <cmath>

#include "nn/cortex/attention.h"
#include "nn/cortex/rotary.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::nn;

namespace {

// Attention of each sample's queries over its own keys, in double on the host.
Tensor reference_segmented(const Tensor& q, const Segments& qs, const Tensor& k, const Tensor& v, const Segments& ks) {
  const int64_t h = q.size(1), d = q.size(2);
  const auto vq = test::values(q), vk = test::values(k), vv = test::values(v);
  std::vector<double> out(static_cast<size_t>(q.size(0) * h * d), 0.0);
  auto at = [&](const std::vector<double>& x, int64_t row, int64_t head, int64_t c) {
    return x[static_cast<size_t>((row * h + head) * d + c)];
  };
  for (int64_t b = 0; b < qs.samples(); ++b)
    for (int64_t i = qs.begin(b); i < qs.begin(b) + qs.size(b); ++i)
      for (int64_t head = 0; head < h; ++head) {
        if (ks.size(b) == 0) continue;
        std::vector<double> w;
        double m = -1e300, z = 0;
        for (int64_t j = ks.begin(b); j < ks.begin(b) + ks.size(b); ++j) {
          double s = 0;
          for (int64_t c = 0; c < d; ++c) s += at(vq, i, head, c) * at(vk, j, head, c);
          w.push_back(s / std::sqrt(static_cast<double>(d)));
          m = std::max(m, w.back());
        }
        for (double& x : w) z += (x = std::exp(x - m));
        for (int64_t c = 0; c < d; ++c) {
          double s = 0;
          for (int64_t j = 0; j < ks.size(b); ++j)
            s += w[static_cast<size_t>(j)] / z * at(vv, ks.begin(b) + j, head, c);
          out[static_cast<size_t>((i * h + head) * d + c)] = s;
        }
      }
  return from_vector(out, q.shape());
}

}  // namespace

TEST_CASE("segmented attention matches a per-sample float64 reference (ragged, empty and uniform segments)") {
  struct Case {
    std::vector<int64_t> q_sizes, k_sizes;
  };
  const Case cases[] = {{{2, 0, 3, 1}, {4, 3, 0, 17}}, {{3, 3, 3}, {5, 5, 5}}, {{1}, {129}}, {{4, 4}, {2, 0}}};
  uint64_t seed = 1;
  for (const Case& c : cases) {
    const Segments qs = Segments::from_sizes(c.q_sizes), ks = Segments::from_sizes(c.k_sizes);
    INFO("queries ", qs.total(), " keys ", ks.total());
    const Tensor q = test::random({qs.total(), 2, 4}, seed++), k = test::random({ks.total(), 2, 4}, seed++),
                 v = test::random({ks.total(), 2, 4}, seed++);
    const Tensor expected = reference_segmented(q, qs, k, v, ks);
    test::expect_close(segmented_attention(q, qs, k, v, ks), expected, 1e-12, 1e-12, "f64");
    test::expect_close(segmented_attention(data_to_dtype(q, DType::f32), qs, data_to_dtype(k, DType::f32),
                                           data_to_dtype(v, DType::f32), ks),
                       expected, 1e-5, 1e-6, "f32");
    if (ks.total() > 0 && ks.total() < 50)
      test::gradcheck([&](const std::vector<Tensor>& in) { return segmented_attention(in[0], qs, in[1], in[2], ks); },
                      {q, k, v}, 1e-6, 1e-5, 1e-7, "segmented_attention");
  }
  CHECK_THROWS_WITH_AS(
      segmented_attention(test::random({3, 2, 4}, 1), Segments::from_sizes({3}), test::random({3, 2, 4}, 2),
                          test::random({3, 2, 4}, 3), Segments::from_sizes({1, 2})),
      doctest::Contains("describe 2 samples, expected 1"), Error);
}

TEST_CASE("rotary: rotation keeps norms, its inverse undoes it, and scores depend on time differences only") {
  TimeRotary rotary(8, 2.0, 300.0);
  CHECK(rotary.rotated_dims() == 4);
  const std::vector<double> times{0.0, 3.5, 1e7 + 0.25, -40.0};
  const RotaryAngles a = rotary.angles(times, DType::f64, Device::cpu());
  const Tensor x = test::random({4, 3, 8}, 7);
  const Tensor y = rotate(x, a);
  // The last half of each head passes through unchanged.
  test::expect_close(narrow(y, -1, 4, 4), narrow(x, -1, 4, 4), 0, 0, "pass-through half");
  test::expect_close(sum(square(y), {-1}), sum(square(x), {-1}), 1e-12, 1e-12, "norms");
  test::expect_close(rotate(y, a, true), x, 1e-12, 1e-12, "inverse");
  // <R(t1) q, R(t2) k> is unchanged when both times move by the same amount.
  const Tensor q = test::random({1, 1, 8}, 8), k = test::random({1, 1, 8}, 9);
  auto score = [&](double tq, double tk) {
    const Tensor rq = rotate(q, rotary.angles({tq}, DType::f64, Device::cpu()));
    const Tensor rk = rotate(k, rotary.angles({tk}, DType::f64, Device::cpu()));
    return sum(mul(rq, rk)).item();
  };
  CHECK(score(10.0, 3.0) == doctest::Approx(score(5010.0, 5003.0)).epsilon(1e-9));
  CHECK(score(10.0, 3.0) != doctest::Approx(score(10.0, 4.0)).epsilon(1e-6));
  test::gradcheck([&](const std::vector<Tensor>& in) { return rotate(in[0], a); }, {x}, 1e-6, 1e-5, 1e-7, "rotate");
  CHECK_THROWS_WITH_AS(TimeRotary(6, 1.0, 2.0), doctest::Contains("multiple of 4"), Error);
  CHECK_THROWS_WITH_AS(rotate(test::random({3, 3, 8}, 1), a), doctest::Contains("do not fit"), Error);
}
