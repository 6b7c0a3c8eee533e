// rotary against a float64 loop reference: awkward sizes, strided x (narrowed from a wider
// buffer, transposed storage), broadcast angle shapes, f32/bf16/f16; the f32 bits of the
// mul/add/cat composition it replaces; inverse round trip; gradcheck; errors.
#include <cmath>

#include "autograd/grad_mode.h"
#include "ops/elementwise.h"
#include "ops/shape_ops.h"
#include "ops/views.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// out[i][j][d] from x [N, H, Dh] and angles given as f64 [N, F] (the same for every head).
Tensor reference(const Tensor& x, const std::vector<double>& c, const std::vector<double>& s, int64_t f,
                 bool inverse) {
  const int64_t n = x.size(0), h = x.size(1), dh = x.size(2);
  const std::vector<double> xv = values(x);
  std::vector<double> out(xv.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < h; ++j) {
      const size_t row = static_cast<size_t>((i * h + j) * dh);
      for (int64_t d = 0; d < dh; ++d) out[row + d] = xv[row + d];
      for (int64_t k = 0; k < f; ++k) {
        const double ck = c[static_cast<size_t>(i * f + k)];
        const double sk = (inverse ? -1 : 1) * s[static_cast<size_t>(i * f + k)];
        const double x1 = xv[row + k], x2 = xv[row + f + k];
        out[row + k] = x1 * ck - x2 * sk;
        out[row + f + k] = x2 * ck + x1 * sk;
      }
    }
  return from_vector(out, x.shape());
}

// cos and sin of random angles, f64 [N * F] each.
std::pair<std::vector<double>, std::vector<double>> angles(int64_t n, int64_t f, uint64_t seed) {
  const std::vector<double> theta = values(random_uniform({n * f}, seed, -4.0, 4.0));
  std::vector<double> c, s;
  for (double t : theta) {
    c.push_back(std::cos(t));
    s.push_back(std::sin(t));
  }
  return {c, s};
}

// x [N, H, Dh] as a narrow of a wider buffer: row stride H * (Dh + 5), like a slice of a GEMM output.
Tensor narrowed(const Tensor& x) {
  Tensor wide = random({x.size(0), x.size(1), x.size(2) + 5}, 99, x.dtype());
  Tensor view = narrow_data(wide, 2, 2, x.size(2));
  copy_(view, x);
  return view;
}

double tolerance(DType dtype) {
  return dtype == DType::f64 ? 1e-12 : dtype == DType::f32 ? 1e-6 : dtype == DType::bf16 ? 1e-2 : 2e-3;
}

}  // namespace

TEST_CASE("rotary equals the f64 rotation on awkward sizes and strided x") {
  for (int64_t n : kAwkwardSizes)
    for (int64_t h : {1, 3})
      for (int64_t f : {1, 3, 5})
        for (int64_t dh : {2 * f, 4 * f, 4 * f + 3})
          for (DType dtype : {DType::f64, DType::f32, DType::bf16, DType::f16})
            for (bool inverse : {false, true}) {
              INFO("N=", n, " H=", h, " F=", f, " Dh=", dh, " ", dtype_name(dtype), " inverse=", inverse);
              const auto [c, s] = angles(n, f, 7 + n + f);
              const Tensor cos = from_doubles(c, {n, 1, f}, dtype), sin = from_doubles(s, {n, 1, f}, dtype);
              const Tensor x = random({n, h, dh}, 11 + n * h + dh, dtype);
              // Reference from the rounded operands, so only the op's own rounding is measured.
              const Tensor want = reference(x, values(cos), values(sin), f, inverse);
              for (const Tensor& xin : {x, narrowed(x), noncontiguous(x)}) {
                const Tensor y = rotary(xin, cos, sin, inverse);
                CHECK(y.dtype() == dtype);
                CHECK(y.shape() == Shape{n, h, dh});
                CHECK(y.is_contiguous());
                expect_close(y, want, tolerance(dtype), tolerance(dtype));
              }
            }
}

TEST_CASE("rotary broadcasts angles of shape [F], [1, F], [N, 1, F] and [N, H, F]") {
  const int64_t n = 5, h = 3, f = 4, dh = 4 * f;
  const Tensor x = random({n, h, dh}, 3);
  // Per-head angles [N, H, F]: the reference runs head by head.
  const Tensor ch = random({n, h, f}, 4), sh = random({n, h, f}, 5);
  const Tensor y = rotary(x, ch, sh, false);
  for (int64_t j = 0; j < h; ++j) {
    const Tensor xj = narrow(x, 1, j, 1);
    const Tensor want = reference(xj, values(narrow(ch, 1, j, 1)), values(narrow(sh, 1, j, 1)), f, false);
    expect_close(narrow(y, 1, j, 1), want, 1e-12, 1e-12, "head " + std::to_string(j));
  }
  const Tensor c1 = random({f}, 6), s1 = random({f}, 7);
  const Tensor full_c = expand(reshape(c1, {1, 1, f}), {n, 1, f}), full_s = expand(reshape(s1, {1, 1, f}), {n, 1, f});
  const Tensor want = rotary(x, data_contiguous(full_c), data_contiguous(full_s), true);
  CHECK(values(rotary(x, c1, s1, true)) == values(want));
  CHECK(values(rotary(x, reshape(c1, {1, f}), reshape(s1, {1, f}), true)) == values(want));
}

TEST_CASE("rotary in f32 gives the bits of the mul/add/cat composition it replaces") {
  for (bool inverse : {false, true}) {
    const int64_t n = 17, h = 3, f = 5, dh = 4 * f;
    const auto [c, s] = angles(n, f, 21);
    const Tensor cos = from_doubles(c, {n, 1, f}), sin = from_doubles(s, {n, 1, f});
    const Tensor x = narrowed(random({n, h, dh}, 22, DType::f32));
    const Tensor x1 = narrow(x, -1, 0, f), x2 = narrow(x, -1, f, f), rest = narrow(x, -1, 2 * f, dh - 2 * f);
    const Tensor y1 = inverse ? add(mul(x1, cos), mul(x2, sin)) : sub(mul(x1, cos), mul(x2, sin));
    const Tensor y2 = inverse ? sub(mul(x2, cos), mul(x1, sin)) : add(mul(x2, cos), mul(x1, sin));
    CHECK(values(rotary(x, cos, sin, inverse)) == values(cat({y1, y2, rest}, -1)));
  }
}

TEST_CASE("rotary: the inverse undoes the rotation") {
  const int64_t n = 129, h = 2, f = 3, dh = 4 * f;
  const auto [c, s] = angles(n, f, 31);
  const Tensor cos = from_doubles(c, {n, 1, f}, DType::f64), sin = from_doubles(s, {n, 1, f}, DType::f64);
  const Tensor x = random({n, h, dh}, 32);
  expect_close(rotary(rotary(x, cos, sin, false), cos, sin, true), x, 1e-13, 1e-13);
  expect_close(rotary(rotary(x, cos, sin, true), cos, sin, false), x, 1e-13, 1e-13);
}

TEST_CASE("rotary gradcheck (x; the angles are constants)") {
  const int64_t n = 3, h = 2, f = 2;
  const auto [c, s] = angles(n, f, 41);
  const Tensor cos = from_doubles(c, {n, 1, f}, DType::f64), sin = from_doubles(s, {n, 1, f}, DType::f64);
  for (bool inverse : {false, true})
    for (int64_t dh : {2 * f, 4 * f + 1}) {
      gradcheck([&](const std::vector<Tensor>& in) { return rotary(in[0], cos, sin, inverse); },
                {random({n, h, dh}, 42 + dh)}, 1e-6, 1e-5, 1e-7, "inverse=" + std::to_string(inverse));
      // Through a strided view of the leaf: the gradient lands in the right slots.
      gradcheck([&](const std::vector<Tensor>& in) { return rotary(narrow(in[0], 2, 1, dh), cos, sin, inverse); },
                {random({n, h, dh + 2}, 43 + dh)}, 1e-6, 1e-5, 1e-7, "narrowed");
    }
}

TEST_CASE("rotary: empty inputs and errors") {
  const Tensor x = random({4, 2, 8}, 51, DType::f32);
  const Tensor c = random({4, 1, 2}, 52, DType::f32), s = random({4, 1, 2}, 53, DType::f32);
  CHECK(rotary(random({0, 2, 8}, 1, DType::f32), zeros({0, 1, 2}), zeros({0, 1, 2}), false).shape() ==
        Shape{0, 2, 8});
  auto throws = [](const std::function<void()>& fn, const char* text) {
    CHECK_THROWS_WITH_AS(fn(), doctest::Contains(text), cortex::Error);
  };
  throws([&] { rotary(reshape(x, {4, 16}), c, s, false); }, "rotary: expected x [N, heads, head_dim], got f32[4, 16]");
  throws([&] { rotary(x, Tensor(), s, false); }, "rotary: undefined x, cos or sin");
  throws([&] { rotary(x, data_to_dtype(c, DType::f64), s, false); }, "must share a floating dtype");
  throws([&] { rotary(data_to_dtype(x, DType::i64), data_to_dtype(c, DType::i64), data_to_dtype(s, DType::i64), false); },
         "must share a floating dtype");
  throws([&] { rotary(x, c, random({4, 1, 3}, 54, DType::f32), false); }, "cos and sin must have one shape");
  throws([&] { rotary(x, random({4, 1, 5}, 55, DType::f32), random({4, 1, 5}, 56, DType::f32), false); },
         "does not fit x");
  throws([&] { rotary(x, random({3, 1, 2}, 57, DType::f32), random({3, 1, 2}, 58, DType::f32), false); },
         "does not fit x");
  throws([&] { rotary(x, random({1, 4, 1, 2}, 57, DType::f32), random({1, 4, 1, 2}, 58, DType::f32), false); },
         "does not fit x");
  Tensor leaf = c.detach();
  leaf.set_requires_grad();
  throws([&] { rotary(x, leaf, s, false); }, "gives no gradient to the angles");
  NoGradGuard no_grad;
  CHECK(rotary(x, leaf, s, false).shape() == x.shape());
}
