#include <cmath>

#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// Plain-loop references over the last dim, in double.
Tensor reference_rms_norm(const Tensor& x, const Tensor& w, double eps) {
  const auto v = values(x), wv = values(w);
  const int64_t cols = x.size(-1), rows = x.numel() / cols;
  std::vector<double> out(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    double ss = 0;
    for (int64_t c = 0; c < cols; ++c) ss += v[r * cols + c] * v[r * cols + c];
    const double scale = 1.0 / std::sqrt(ss / cols + eps);
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = v[r * cols + c] * scale * wv[c];
  }
  return from_vector(out, x.shape());
}

Tensor reference_layer_norm(const Tensor& x, const Tensor& w, const Tensor& b, double eps) {
  const auto v = values(x), wv = values(w), bv = values(b);
  const int64_t cols = x.size(-1), rows = x.numel() / cols;
  std::vector<double> out(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    double mean = 0, var = 0;
    for (int64_t c = 0; c < cols; ++c) mean += v[r * cols + c] / cols;
    for (int64_t c = 0; c < cols; ++c) var += (v[r * cols + c] - mean) * (v[r * cols + c] - mean) / cols;
    for (int64_t c = 0; c < cols; ++c)
      out[r * cols + c] = (v[r * cols + c] - mean) / std::sqrt(var + eps) * wv[c] + bv[c];
  }
  return from_vector(out, x.shape());
}

Tensor to64(const Tensor& t) { return data_to_dtype(t, DType::f64); }
Tensor cast(const Tensor& t, DType d) { return data_to_dtype(t, d); }

}  // namespace

TEST_CASE("rms_norm and layer_norm match the float64 reference on awkward sizes and views") {
  for (int64_t rows : kAwkwardSizes)
    for (int64_t cols : kAwkwardSizes) {
      INFO("rows=", rows, " cols=", cols);
      // An offset keeps layer_norm honest about subtracting the mean.
      Tensor x = add(random({rows, cols}, rows * 31 + cols, DType::f64, Device::cpu(), 2.0), 0.5);
      Tensor w = random({cols}, 7 + cols), b = random({cols}, 8 + cols);
      const Tensor rms_ref = reference_rms_norm(x, w, 1e-6);
      const Tensor ln_ref = reference_layer_norm(x, w, b, 1e-5);
      expect_close(rms_norm(x, w, 1e-6), rms_ref, 1e-12, 1e-12, "rms f64");
      expect_close(layer_norm(x, w, b, 1e-5), ln_ref, 1e-10, 1e-10, "ln f64");
      expect_close(rms_norm(noncontiguous(x), noncontiguous(w), 1e-6), rms_ref, 1e-12, 1e-12, "rms f64 view");
      expect_close(layer_norm(noncontiguous(x), w, noncontiguous(b), 1e-5), ln_ref, 1e-10, 1e-10, "ln f64 view");
      for (DType d : {DType::f32, DType::bf16, DType::f16}) {
        INFO(std::string(dtype_name(d)));
        const double tol = d == DType::f32 ? 1e-5 : 1.5e-2;
        Tensor xd = cast(x, d), wd = cast(w, d), bd = cast(b, d);
        expect_close(rms_norm(xd, wd, 1e-6), reference_rms_norm(to64(xd), to64(wd), 1e-6), tol, tol, "rms");
        expect_close(layer_norm(noncontiguous(xd), wd, bd, 1e-5),
                     reference_layer_norm(to64(xd), to64(wd), to64(bd), 1e-5), tol, tol, "ln");
      }
    }
}

TEST_CASE("norms over 3-D inputs, without affine parameters, and on many rows in parallel") {
  Tensor x = random({2, 3, 17}, 1);
  Tensor ones17 = ones({17}, DType::f64), zeros17 = zeros({17}, DType::f64);
  expect_close(rms_norm(x, Tensor()), reference_rms_norm(x, ones17, 1e-6), 1e-12, 1e-12, "rms no weight");
  expect_close(layer_norm(x, Tensor(), Tensor()), reference_layer_norm(x, ones17, zeros17, 1e-5), 1e-10, 1e-10,
               "ln no affine");
  Tensor big = random({700, 65}, 2, DType::f32), w = random({65}, 3, DType::f32), b = random({65}, 4, DType::f32);
  expect_close(rms_norm(big, w), reference_rms_norm(to64(big), to64(w), 1e-6), 1e-5, 1e-5, "rms parallel");
  expect_close(layer_norm(big, w, b), reference_layer_norm(to64(big), to64(w), to64(b), 1e-5), 1e-5, 1e-5,
               "ln parallel");
}

TEST_CASE("rms_norm and layer_norm pass the gradient check wrt input, weight and bias") {
  // The saved statistics are f32 by the kernel contract; the default tolerances still hold.
  const double atol = 1e-7;
  gradcheck([](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], 1e-6); },
            {random({3, 5}, 1), random({5}, 2)}, 1e-6, 1e-5, atol, "rms_norm");
  gradcheck([](const std::vector<Tensor>& in) { return rms_norm(transpose(in[0], 0, 1), in[1], 1e-6); },
            {random({4, 6}, 3), random({4}, 4)}, 1e-6, 1e-5, atol,
            "rms_norm of a view");
  gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2], 1e-5); },
            {random({2, 3, 5}, 5), random({5}, 6), random({5}, 7)}, 1e-6, 1e-5, atol, "layer_norm");
  gradcheck([](const std::vector<Tensor>& in) { return layer_norm(in[0], Tensor(), Tensor(), 1e-5); },
            {random({4, 3}, 8)}, 1e-6, 1e-5, atol, "layer_norm no affine");
}

TEST_CASE("norms reject mismatched parameters") {
  Tensor x = zeros({2, 4});
  CHECK_THROWS_WITH_AS(rms_norm(x, zeros({3})), doctest::Contains("rms_norm: weight must have shape [4]"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(x, zeros({4}), zeros({4}, DType::f64)),
                       doctest::Contains("layer_norm: bias"), Error);
  CHECK_THROWS_WITH_AS(rms_norm(zeros({2, 4}, DType::i32), Tensor()), doctest::Contains("floating"), Error);
  CHECK_THROWS_WITH_AS(layer_norm(zeros({2, 0}), Tensor(), Tensor()), doctest::Contains("non-empty last dim"), Error);
  CHECK_THROWS_WITH_AS(rms_norm(x, Tensor(), -1.0), doctest::Contains("eps must be >= 0"), Error);
}
