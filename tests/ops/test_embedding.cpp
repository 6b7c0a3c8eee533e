#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

namespace {

Tensor ref_embedding(const Tensor& ids, const Tensor& table) {
  const auto iv = values(ids), tv = values(table);
  const int64_t width = table.size(1);
  std::vector<double> out;
  for (double id : iv)
    for (int64_t c = 0; c < width; ++c) out.push_back(tv[static_cast<int64_t>(id) * width + c]);
  Shape shape = ids.shape();
  shape.push_back(width);
  return from_vector(out, shape);
}

// Gradient of sum(embedding(ids, table) * g) wrt the table: g's rows summed per id.
Tensor ref_table_grad(const Tensor& ids, const Tensor& g, int64_t vocab) {
  const auto iv = values(ids), gv = values(g);
  const int64_t width = g.size(-1);
  std::vector<double> out(static_cast<size_t>(vocab * width), 0.0);
  for (size_t i = 0; i < iv.size(); ++i)
    for (int64_t c = 0; c < width; ++c) out[static_cast<int64_t>(iv[i]) * width + c] += gv[i * width + c];
  return from_vector(out, {vocab, width});
}

Tensor ids_of(const Shape& shape, int64_t vocab, uint64_t seed, DType dtype) {
  Generator g(seed);
  return randint(shape, 0, vocab, dtype, Device::cpu(), &g);
}

}  // namespace

TEST_CASE("embedding picks table rows for ids of any shape, dtype and layout") {
  for (int64_t vocab : {1, 3, 17, 129})
    for (int64_t width : {1, 17})
      for (DType id_dtype : {DType::i32, DType::i64}) {
        INFO("V=", vocab, " D=", width, " ", std::string(dtype_name(id_dtype)));
        Tensor table = random({vocab, width}, vocab * 3 + width);
        for (const Shape& shape : {Shape{}, Shape{1}, Shape{3, 17}, Shape{2, 3, 4}}) {
          INFO("ids ", shape_str(shape));
          Tensor ids = ids_of(shape, vocab, 7 + vocab, id_dtype);
          const Tensor expected = ref_embedding(ids, table);
          expect_close(embedding(ids, table), expected, 0, 0, "f64");
          expect_close(embedding(noncontiguous(ids), noncontiguous(table)), expected, 0, 0, "views");
          Tensor tb = data_to_dtype(table, DType::bf16);
          expect_close(embedding(ids, tb), ref_embedding(ids, data_to_dtype(tb, DType::f64)), 0, 0, "bf16");
        }
      }
}

TEST_CASE("embedding backward sums the gradient rows of repeated ids into the table") {
  const int64_t vocab = 50, width = 17;
  Tensor ids = ids_of({40, 9}, vocab, 3, DType::i64);  // 360 ids over 50 rows: many repeats
  Tensor table = random({vocab, width}, 4, DType::f32).set_requires_grad();
  Tensor g = random({40, 9, width}, 5, DType::f32);
  backward(embedding(ids, table), g);
  expect_close(table.grad(), ref_table_grad(ids, data_to_dtype(g, DType::f64), vocab), 1e-5, 1e-5, "f32 grad");
  const auto first = values(table.grad());
  table.zero_grad();
  backward(embedding(ids, table), g);
  CHECK(values(table.grad()) == first);  // deterministic

  gradcheck([](const std::vector<Tensor>& in) {
    return embedding(from_vector(std::vector<int32_t>{1, 3, 1, 0, 3, 3}, {2, 3}), in[0]);
  }, {random({4, 3}, 6)}, 1e-6, 1e-5, 1e-7, "embedding wrt table");
}

TEST_CASE("embedding names the bad id and the vocabulary size") {
  Tensor table = zeros({5, 2});
  CHECK_THROWS_WITH_AS(embedding(from_vector(std::vector<int64_t>{0, 7, 9}, {3}), table),
                       doctest::Contains("embedding: id 7 out of range [0, 5) for a table of V=5 rows"), Error);
  CHECK_THROWS_WITH_AS(embedding(from_vector(std::vector<int32_t>{-1}, {1}), table),
                       doctest::Contains("id -1 out of range [0, 5)"), Error);
  CHECK_THROWS_WITH_AS(embedding(zeros({2}), table), doctest::Contains("ids must be i32 or i64"), Error);
  CHECK_THROWS_WITH_AS(embedding(zeros({2}, DType::i64), zeros({5})), doctest::Contains("table must be [V, D]"), Error);
}

TEST_CASE("embedding_trusted equals embedding and still checks ids the host can read") {
  NoGradGuard no_grad;
  for (DType id_dtype : {DType::i32, DType::i64})
    for (const Shape& shape : {Shape{}, Shape{17}, Shape{3, 5}, Shape{0}}) {
      INFO(dtype_name(id_dtype), " ids ", shape_str(shape));
      const Tensor table = random({129, 3}, 11, DType::f32);
      const Tensor ids = ids_of(shape, 129, 12, id_dtype);
      const Tensor got = embedding_trusted(noncontiguous(ids), table);
      CHECK(got.shape() == embedding(ids, table).shape());
      CHECK(values(got) == values(embedding(ids, table)));
    }
  const Tensor table = zeros({5, 2});
  CHECK_THROWS_WITH_AS(embedding_trusted(from_vector(std::vector<int64_t>{0, 7}, {2}), table),
                       doctest::Contains("embedding_trusted: id 7 out of range [0, 5)"), Error);
  CHECK_THROWS_WITH_AS(embedding_trusted(zeros({2}), table), doctest::Contains("ids must be i32 or i64"), Error);
  CHECK_THROWS_WITH_AS(embedding_trusted(zeros({2}, DType::i64), zeros({5})),
                       doctest::Contains("table must be [V, D]"), Error);
}

TEST_CASE("embedding_trusted refuses a table that would record autograd history") {
  Tensor table = random({5, 2}, 13, DType::f32).set_requires_grad();
  const Tensor ids = from_vector(std::vector<int64_t>{1, 4}, {2});
  CHECK_THROWS_WITH_AS(embedding_trusted(ids, table), doctest::Contains("embedding_trusted: has no backward"), Error);
  NoGradGuard no_grad;
  CHECK(values(embedding_trusted(ids, table)) == values(embedding(ids, table)));
}
