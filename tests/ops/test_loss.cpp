#include <cmath>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// Per-element losses with plain loops, then the reduction.
Tensor reduce_ref(const std::vector<double>& per, const Shape& shape, Reduction r) {
  if (r == Reduction::none) return from_vector(per, shape);
  double total = 0;
  for (double v : per) total += v;
  return scalar_tensor(r == Reduction::sum ? total : total / static_cast<double>(per.size()), DType::f64);
}

Tensor ref_mse(const Tensor& pred, const Tensor& target, Reduction r) {
  const auto p = values(pred), t = values(target);
  std::vector<double> per;
  for (size_t i = 0; i < p.size(); ++i) per.push_back((p[i] - t[i]) * (p[i] - t[i]));
  return reduce_ref(per, pred.shape(), r);
}

Tensor ref_poisson(const Tensor& log_rate, const Tensor& target, Reduction r) {
  const auto l = values(log_rate), t = values(target);
  std::vector<double> per;
  for (size_t i = 0; i < l.size(); ++i) per.push_back(std::exp(l[i]) - t[i] * l[i]);
  return reduce_ref(per, log_rate.shape(), r);
}

Tensor ref_cross_entropy(const Tensor& logits, const Tensor& target, Reduction r) {
  const auto x = values(logits), t = values(target);
  const int64_t classes = logits.size(-1), rows = logits.numel() / classes;
  std::vector<double> per;
  for (int64_t i = 0; i < rows; ++i) {
    double m = -INFINITY, s = 0;
    for (int64_t c = 0; c < classes; ++c) m = std::max(m, x[i * classes + c]);
    for (int64_t c = 0; c < classes; ++c) s += std::exp(x[i * classes + c] - m);
    per.push_back(m + std::log(s) - x[i * classes + static_cast<int64_t>(t[i])]);
  }
  return reduce_ref(per, target.shape(), r);
}

Tensor counts(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return data_to_dtype(randint(shape, 0, 6, DType::i64, Device::cpu(), &g), DType::f64);
}

Tensor classes_of(const Shape& shape, int64_t classes, uint64_t seed, DType dtype = DType::i64) {
  Generator g(seed);
  return randint(shape, 0, classes, dtype, Device::cpu(), &g);
}

Tensor cast(const Tensor& t, DType d) { return data_to_dtype(t, d); }

const Reduction kReductions[] = {Reduction::mean, Reduction::sum, Reduction::none};

}  // namespace

TEST_CASE("mse and poisson nll match the reference for every reduction, dtype and view") {
  for (int64_t n : kAwkwardSizes)
    for (Reduction r : kReductions) {
      INFO("n=", n, " reduction ", static_cast<int>(r));
      Tensor pred = random({n, 3}, n), target = random({n, 3}, n + 1);
      Tensor log_rate = random({n, 3}, n + 2, DType::f64, Device::cpu(), 0.5), y = counts({n, 3}, n + 3);
      expect_close(mse_loss(pred, target, r), ref_mse(pred, target, r), 1e-12, 1e-12, "mse f64");
      expect_close(mse_loss(noncontiguous(pred), target, r), ref_mse(pred, target, r), 1e-12, 1e-12, "mse view");
      expect_close(mse_loss(cast(pred, DType::f32), cast(target, DType::f32), r), ref_mse(pred, target, r), 1e-5,
                   1e-5, "mse f32");
      expect_close(poisson_nll_loss(log_rate, y, r), ref_poisson(log_rate, y, r), 1e-12, 1e-12, "poisson f64");
      expect_close(poisson_nll_loss(noncontiguous(log_rate), noncontiguous(y), r), ref_poisson(log_rate, y, r), 1e-12,
                   1e-12, "poisson views");
      Tensor lb = cast(log_rate, DType::bf16), yb = cast(y, DType::bf16);
      expect_close(poisson_nll_loss(lb, yb, r), ref_poisson(cast(lb, DType::f64), cast(yb, DType::f64), r), 2e-2,
                   2e-2, "poisson bf16");
    }
}

TEST_CASE("cross_entropy matches the reference for [N, C] and [B, T, C] logits") {
  for (int64_t rows : kAwkwardSizes)
    for (int64_t classes : {1, 3, 17, 129})
      for (Reduction r : kReductions) {
        INFO("rows=", rows, " C=", classes, " reduction ", static_cast<int>(r));
        Tensor logits = random({rows, classes}, rows * 13 + classes, DType::f64, Device::cpu(), 2.0);
        Tensor target = classes_of({rows}, classes, rows + classes, rows % 2 ? DType::i32 : DType::i64);
        const Tensor expected = ref_cross_entropy(logits, target, r);
        expect_close(cross_entropy(logits, target, r), expected, 1e-12, 1e-12, "f64");
        expect_close(cross_entropy(noncontiguous(logits), noncontiguous(target), r), expected, 1e-12, 1e-12, "views");
        expect_close(cross_entropy(cast(logits, DType::f32), target, r), expected, 1e-5, 1e-5, "f32");
        Tensor lb = cast(logits, DType::bf16);
        expect_close(cross_entropy(lb, target, r), ref_cross_entropy(cast(lb, DType::f64), target, r), 2e-2, 2e-2,
                     "bf16");
      }
  Tensor logits = random({2, 3, 5}, 1);
  Tensor target = classes_of({2, 3}, 5, 2);
  expect_close(cross_entropy(logits, target), ref_cross_entropy(logits, target, Reduction::mean), 1e-12, 1e-12,
               "3-D");
  CHECK(cross_entropy(logits, target, Reduction::none).shape() == Shape{2, 3});
}

TEST_CASE("losses pass the gradient check") {
  for (Reduction r : kReductions) {
    INFO("reduction ", static_cast<int>(r));
    gradcheck([r](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1], r); },
              {random({3, 4}, 1), random({3, 4}, 2)}, 1e-6, 1e-5, 1e-7, "mse");
    gradcheck([r](const std::vector<Tensor>& in) { return poisson_nll_loss(in[0], in[1], r); },
              {random({3, 4}, 3, DType::f64, Device::cpu(), 0.5), counts({3, 4}, 4)}, 1e-6, 1e-5, 1e-7, "poisson");
    Tensor target = from_vector(std::vector<int64_t>{0, 4, 2, 4}, {2, 2});
    gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, r); }, {random({2, 2, 5}, 5)},
              1e-6, 1e-5, 1e-7, "cross_entropy");
  }
}

TEST_CASE("losses reject mismatched inputs and bad class ids") {
  CHECK_THROWS_WITH_AS(mse_loss(zeros({2, 3}), zeros({3, 2})), doctest::Contains("mse_loss: pred f32[2, 3] cpu and target"),
                       Error);
  CHECK_THROWS_WITH_AS(poisson_nll_loss(zeros({2}), zeros({2}, DType::f64)), doctest::Contains("same shape, dtype"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 5}), from_vector(std::vector<int64_t>{1, 5}, {2})),
                       doctest::Contains("cross_entropy: class id 5 out of range [0, 5)"), Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 5}), zeros({3}, DType::i64)), doctest::Contains("must have shape [2]"),
                       Error);
  CHECK_THROWS_WITH_AS(cross_entropy(zeros({2, 5}), zeros({2})), doctest::Contains("target must be i32 or i64"), Error);
}
