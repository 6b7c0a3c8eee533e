#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

// Joins row-major tensors along dim with plain loops: each part contributes, for every
// outer position, its `len * inner` consecutive values.
Tensor ref_cat(const std::vector<Tensor>& parts, int64_t dim) {
  Shape shape = parts[0].shape();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < dim; ++d) outer *= shape[d];
  for (size_t d = dim + 1; d < shape.size(); ++d) inner *= shape[d];
  shape[dim] = 0;
  for (const Tensor& p : parts) shape[dim] += p.size(dim);
  std::vector<double> out;
  for (int64_t o = 0; o < outer; ++o)
    for (const Tensor& p : parts) {
      const auto v = values(p);
      const int64_t block = p.size(dim) * inner;
      out.insert(out.end(), v.begin() + o * block, v.begin() + (o + 1) * block);
    }
  return from_vector(out, shape);
}

}  // namespace

TEST_CASE("cat matches the reference along every dim, with views and mixed lengths") {
  for (int64_t dim = 0; dim < 3; ++dim) {
    INFO("dim ", dim);
    std::vector<Tensor> parts;
    for (int64_t i = 0; i < 4; ++i) {
      Shape s{3, 4, 2};
      s[dim] = kAwkwardSizes[i];
      parts.push_back(random(s, 10 * dim + i));
    }
    const Tensor expected = ref_cat(parts, dim);
    expect_close(cat(parts, dim), expected, 0, 0, "f64");
    std::vector<Tensor> views, f32, bf;
    for (const Tensor& p : parts) {
      views.push_back(noncontiguous(p));
      f32.push_back(data_to_dtype(p, DType::f32));
      bf.push_back(data_to_dtype(p, DType::bf16));
    }
    expect_close(cat(views, dim - 3), expected, 0, 0, "views");
    expect_close(cat(f32, dim), expected, 1e-7, 0, "f32");
    std::vector<Tensor> bf64;
    for (const Tensor& p : bf) bf64.push_back(data_to_dtype(p, DType::f64));
    expect_close(cat(bf, dim), ref_cat(bf64, dim), 0, 0, "bf16");
  }
  // An empty part contributes nothing.
  expect_close(cat({random({2, 3}, 1), zeros({0, 3}, DType::f64)}, 0), random({2, 3}, 1), 0, 0, "empty part");
}

TEST_CASE("stack adds a dim; split and chunk return views of the pieces") {
  Tensor a = random({3, 17}, 1), b = random({3, 17}, 2);
  std::vector<Tensor> lifted0{reshape(a, {1, 3, 17}), reshape(b, {1, 3, 17})};
  expect_close(stack({a, b}, 0), ref_cat(lifted0, 0), 0, 0, "stack 0");
  std::vector<Tensor> lifted2{reshape(a, {3, 17, 1}), reshape(b, {3, 17, 1})};
  expect_close(stack({a, noncontiguous(b)}, -1), ref_cat(lifted2, 2), 0, 0, "stack -1");

  Tensor x = random({5, 17}, 3);
  auto pieces = split(x, {1, 3, 13}, 1);
  REQUIRE(pieces.size() == 3);
  CHECK(pieces[1].shape() == Shape{5, 3});
  CHECK(pieces[1].storage().get() == x.storage().get());  // a view, not a copy
  expect_close(cat(pieces, 1), x, 0, 0, "split then cat");

  auto four = chunk(x, 4, 1);  // 17 = 5 + 5 + 5 + 2
  REQUIRE(four.size() == 4);
  CHECK(four[3].shape() == Shape{5, 2});
  expect_close(cat(four, 1), x, 0, 0, "chunk then cat");
  CHECK(chunk(random({5}, 4), 4, 0).size() == 3);  // pieces of 2, 2, 1
  CHECK(chunk(random({6}, 4), 3, 0)[2].shape() == Shape{2});
}

TEST_CASE("cat, stack, split and chunk pass the gradient check") {
  gradcheck([](const std::vector<Tensor>& in) { return cat({in[0], in[1], in[2]}, 1); },
            {random({2, 1}, 1), random({2, 3}, 2), random({2, 2}, 3)}, 1e-6, 1e-5, 1e-7, "cat");
  gradcheck([](const std::vector<Tensor>& in) { return cat({square(in[0]), in[0]}, 0); }, {random({2, 3}, 4)}, 1e-6,
            1e-5, 1e-7, "cat reusing an input");
  gradcheck([](const std::vector<Tensor>& in) { return stack({in[0], in[1]}, 1); },
            {random({2, 3}, 5), random({2, 3}, 6)}, 1e-6, 1e-5, 1e-7, "stack");
  gradcheck([](const std::vector<Tensor>& in) {
    auto p = split(in[0], {1, 2, 2}, 1);
    return cat({mul(p[2], 3.0), p[0], square(p[1])}, 1);
  }, {random({3, 5}, 7)}, 1e-6, 1e-5, 1e-7, "split");
  gradcheck([](const std::vector<Tensor>& in) {
    auto p = chunk(in[0], 2, 0);
    return mul(p[0], p[1]);
  }, {random({4, 3}, 8)}, 1e-6, 1e-5, 1e-7, "chunk");
}

TEST_CASE("shape ops reject inconsistent parts") {
  CHECK_THROWS_WITH_AS(cat({}, 0), doctest::Contains("cat: needs at least one tensor"), Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2, 3}), zeros({2, 4})}, 0), doctest::Contains("does not match part 0"), Error);
  CHECK_THROWS_WITH_AS(cat({zeros({2, 3}), zeros({2, 3}, DType::f64)}, 0),
                       doctest::Contains("differs in dtype or device"), Error);
  CHECK_THROWS_WITH_AS(cat({zeros({})}, 0), doctest::Contains("0-d"), Error);
  CHECK_THROWS_WITH_AS(stack({zeros({2, 3}), zeros({3, 2})}, 0), doctest::Contains("differs in shape"), Error);
  CHECK_THROWS_WITH_AS(split(zeros({5}), {2, 2}, 0), doctest::Contains("sizes add up to 4"), Error);
  CHECK_THROWS_WITH_AS(chunk(zeros({5}), 0, 0), doctest::Contains("at least one chunk"), Error);
}
