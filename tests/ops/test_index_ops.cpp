#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

using Index = std::vector<int64_t>;

Index unravel(int64_t flat, const Shape& shape) {
  Index ix(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    ix[d] = flat % shape[d];
    flat /= shape[d];
  }
  return ix;
}

int64_t ravel(const Index& ix, const Shape& shape) {
  int64_t flat = 0;
  for (size_t d = 0; d < shape.size(); ++d) flat = flat * shape[d] + ix[d];
  return flat;
}

Tensor random_ids(const Shape& shape, int64_t bound, uint64_t seed, DType dtype = DType::i64) {
  Generator g(seed);
  return randint(shape, 0, bound, dtype, Device::cpu(), &g);
}

// Plain-loop float64 references, written position by position.
Tensor ref_index_select(const Tensor& x, int64_t dim, const Tensor& idx) {
  const auto xv = values(x), iv = values(idx);
  Shape shape = x.shape();
  shape[dim] = idx.numel();
  std::vector<double> out(static_cast<size_t>(shape_numel(shape)));
  for (int64_t p = 0; p < shape_numel(shape); ++p) {
    Index q = unravel(p, shape);
    q[dim] = static_cast<int64_t>(iv[q[dim]]);
    out[p] = xv[ravel(q, x.shape())];
  }
  return from_vector(out, shape);
}

Tensor ref_index_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  auto out = values(base);
  const auto sv = values(src), iv = values(idx);
  for (int64_t p = 0; p < src.numel(); ++p) {
    Index q = unravel(p, src.shape());
    q[dim] = static_cast<int64_t>(iv[q[dim]]);
    out[ravel(q, base.shape())] += sv[p];
  }
  return from_vector(out, base.shape());
}

Tensor ref_gather(const Tensor& x, int64_t dim, const Tensor& idx) {
  const auto xv = values(x), iv = values(idx);
  std::vector<double> out(iv.size());
  for (int64_t p = 0; p < idx.numel(); ++p) {
    Index q = unravel(p, idx.shape());
    q[dim] = static_cast<int64_t>(iv[p]);
    out[p] = xv[ravel(q, x.shape())];
  }
  return from_vector(out, idx.shape());
}

Tensor ref_scatter_add(const Tensor& base, int64_t dim, const Tensor& idx, const Tensor& src) {
  auto out = values(base);
  const auto sv = values(src), iv = values(idx);
  for (int64_t p = 0; p < idx.numel(); ++p) {
    Index q = unravel(p, idx.shape());
    q[dim] = static_cast<int64_t>(iv[p]);
    out[ravel(q, base.shape())] += sv[p];
  }
  return from_vector(out, base.shape());
}

Tensor cast(const Tensor& t, DType d) { return data_to_dtype(t, d); }

}  // namespace

TEST_CASE("index_select and index_add match the reference for every dim, index dtype and view") {
  for (int64_t n : kAwkwardSizes)
    for (int64_t dim = 0; dim < 3; ++dim)
      for (DType index_dtype : {DType::i32, DType::i64}) {
        INFO("n=", n, " dim=", dim, " ", std::string(dtype_name(index_dtype)));
        Tensor x = random({n, 3, 5}, 10 + n + dim);
        const int64_t bound = x.size(dim), picks = n + 2;  // more picks than rows: repeats
        Tensor idx = random_ids({picks}, bound, 20 + n + dim, index_dtype);
        const Tensor sel = ref_index_select(x, dim, idx);
        expect_close(index_select(x, dim, idx), sel, 0, 0, "select f64");
        expect_close(index_select(noncontiguous(x), dim - 3, noncontiguous(idx)), sel, 0, 0, "select views");
        expect_close(index_select(cast(x, DType::bf16), dim, idx), ref_index_select(cast(cast(x, DType::bf16), DType::f64), dim, idx), 0, 0, "select bf16");

        Tensor src = random(sel.shape(), 30 + n + dim);
        const Tensor added = ref_index_add(x, dim, idx, src);
        expect_close(index_add(x, dim, idx, src), added, 1e-12, 1e-12, "add f64");
        expect_close(index_add(noncontiguous(x), dim, noncontiguous(idx), noncontiguous(src)), added, 1e-12, 1e-12,
                     "add views");
        expect_close(index_add(cast(x, DType::f32), dim, idx, cast(src, DType::f32)), added, 1e-5, 1e-5, "add f32");
        Tensor xb = cast(x, DType::bf16), sb = cast(src, DType::bf16);
        expect_close(index_add(xb, dim, idx, sb), ref_index_add(cast(xb, DType::f64), dim, idx, cast(sb, DType::f64)),
                     1e-2, 2e-2, "add bf16");
      }
}

TEST_CASE("gather and scatter_add match the reference, with an index smaller than the data") {
  for (int64_t n : kAwkwardSizes)
    for (int64_t dim = 0; dim < 2; ++dim)
      for (DType index_dtype : {DType::i32, DType::i64}) {
        INFO("n=", n, " dim=", dim, " ", std::string(dtype_name(index_dtype)));
        Tensor x = random({n, 17}, 40 + n + dim);
        Shape idx_shape = x.shape();
        idx_shape[1 - dim] = std::max<int64_t>(1, x.size(1 - dim) - 1);  // not the full width
        idx_shape[dim] = 4;
        Tensor idx = random_ids(idx_shape, x.size(dim), 50 + n + dim, index_dtype);
        const Tensor g = ref_gather(x, dim, idx);
        expect_close(gather(x, dim, idx), g, 0, 0, "gather f64");
        expect_close(gather(noncontiguous(x), dim, noncontiguous(idx)), g, 0, 0, "gather views");
        expect_close(gather(cast(x, DType::f32), dim, idx), g, 1e-7, 0, "gather f32");

        Tensor src = random(idx_shape, 60 + n + dim);
        const Tensor s = ref_scatter_add(x, dim, idx, src);
        expect_close(scatter_add(x, dim, idx, src), s, 1e-12, 1e-12, "scatter f64");
        expect_close(scatter_add(noncontiguous(x), dim, noncontiguous(idx), noncontiguous(src)), s, 1e-12, 1e-12,
                     "scatter views");
        Tensor xb = cast(x, DType::bf16), sb = cast(src, DType::bf16);
        expect_close(scatter_add(xb, dim, idx, sb),
                     ref_scatter_add(cast(xb, DType::f64), dim, idx, cast(sb, DType::f64)), 2e-2, 3e-2, "scatter bf16");
      }
}

TEST_CASE("index_add and scatter_add are deterministic and correct when run across threads") {
  Tensor base = zeros({1000, 64});
  Tensor idx = random_ids({3000}, 1000, 1);
  Tensor src = random({3000, 64}, 2, DType::f32);
  Tensor a = index_add(base, 0, idx, src), b = index_add(base, 0, idx, src);
  CHECK(values(a) == values(b));
  expect_close(a, ref_index_add(cast(base, DType::f64), 0, idx, cast(src, DType::f64)), 1e-5, 1e-5, "index_add");

  Tensor sidx = random_ids({64, 600}, 50, 3);
  Tensor ssrc = random({64, 600}, 4, DType::f32);
  Tensor sbase = zeros({64, 50});
  Tensor c = scatter_add(sbase, 1, sidx, ssrc), d = scatter_add(sbase, 1, sidx, ssrc);
  CHECK(values(c) == values(d));
  expect_close(c, ref_scatter_add(cast(sbase, DType::f64), 1, sidx, cast(ssrc, DType::f64)), 1e-5, 1e-5,
               "scatter_add");
}

TEST_CASE("index ops pass the gradient check wrt data, base and src (repeated indices included)") {
  Tensor idx = from_vector(std::vector<int64_t>{2, 0, 2, 3}, {4});
  gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], 0, idx); }, {random({4, 3}, 1)}, 1e-6,
            1e-5, 1e-7, "index_select dim 0");
  gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], 1, idx); }, {random({2, 5}, 2)}, 1e-6,
            1e-5, 1e-7, "index_select dim 1");
  gradcheck([&](const std::vector<Tensor>& in) { return index_add(in[0], 0, idx, in[1]); },
            {random({5, 3}, 3), random({4, 3}, 4)}, 1e-6, 1e-5, 1e-7, "index_add");
  Tensor gidx = from_vector(std::vector<int64_t>{0, 2, 2, 1, 0, 0}, {2, 3});
  gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], 1, gidx); }, {random({2, 4}, 5)}, 1e-6, 1e-5,
            1e-7, "gather");
  gradcheck([&](const std::vector<Tensor>& in) { return scatter_add(in[0], 1, gidx, in[1]); },
            {random({2, 4}, 6), random({2, 3}, 7)}, 1e-6, 1e-5, 1e-7, "scatter_add");
  gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], 0, gidx); }, {random({3, 3}, 8)}, 1e-6, 1e-5,
            1e-7, "gather dim 0");
}

TEST_CASE("index ops reject bad indices and shapes") {
  Tensor x = zeros({4, 3});
  CHECK_THROWS_WITH_AS(index_select(x, 0, from_vector(std::vector<int64_t>{1, 4}, {2})),
                       doctest::Contains("index_select: index 4 out of range [0, 4)"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 1, from_vector(std::vector<int32_t>{-1}, {1})),
                       doctest::Contains("index -1 out of range [0, 3)"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, zeros({2})), doctest::Contains("must be i32 or i64"), Error);
  CHECK_THROWS_WITH_AS(index_select(x, 0, zeros({2, 2}, DType::i64)), doctest::Contains("index must be 1-D"), Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, zeros({4}, DType::i64)), doctest::Contains("must have the rank of"), Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, zeros({5, 1}, DType::i64)), doctest::Contains("larger than"), Error);
  CHECK_THROWS_WITH_AS(gather(x, 1, full({4, 1}, 3, DType::i64)), doctest::Contains("gather: index 3 out of range"),
                       Error);
  CHECK_THROWS_WITH_AS(scatter_add(x, 0, zeros({2, 3}, DType::i64), zeros({2, 2})),
                       doctest::Contains("must have the same shape"), Error);
  CHECK_THROWS_WITH_AS(index_add(x, 0, zeros({2}, DType::i64), zeros({3, 3})),
                       doctest::Contains("index_add: src f32[3, 3] cpu must have shape [2, 3]"), Error);
  CHECK_THROWS_WITH_AS(index_add(x, 0, zeros({2}, DType::i64), zeros({2, 3}, DType::f64)),
                       doctest::Contains("must share dtype and device"), Error);
}
