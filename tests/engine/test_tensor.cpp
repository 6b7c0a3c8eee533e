#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

TEST_CASE("factories produce the requested shape, dtype and values") {
  Tensor z = zeros({2, 3}, DType::bf16);
  CHECK(z.shape() == Shape{2, 3});
  CHECK(z.dtype() == DType::bf16);
  CHECK(z.is_contiguous());
  CHECK(values(z) == std::vector<double>(6, 0.0));
  CHECK(values(full({2}, 2.5, DType::f16)) == std::vector<double>{2.5, 2.5});
  CHECK(values(arange(4)) == std::vector<double>{0, 1, 2, 3});
  CHECK(scalar_tensor(3.0).item() == 3.0);
  CHECK(empty({0, 5}).numel() == 0);
  CHECK_THROWS_WITH_AS(empty({2, -1}), doctest::Contains("negative size"), Error);
  CHECK_THROWS_WITH_AS(from_vector(std::vector<float>{1, 2, 3}, {2, 2}), doctest::Contains("do not fill"), Error);
}

TEST_CASE("views share storage and see writes") {
  Tensor t = from_vector(std::vector<double>{0, 1, 2, 3, 4, 5}, {2, 3});
  Tensor tt = transpose(t, 0, 1);
  CHECK(tt.shape() == Shape{3, 2});
  CHECK(!tt.is_contiguous());
  CHECK(tt.storage() == t.storage());
  CHECK(values(tt) == std::vector<double>{0, 3, 1, 4, 2, 5});
  Tensor row = narrow(t, 0, 1, 1);
  CHECK(values(row) == std::vector<double>{3, 4, 5});
  fill_(narrow_data(t, 1, 2, 1), 9.0);
  CHECK(values(t) == std::vector<double>{0, 1, 9, 3, 4, 9});
  CHECK(values(tt) == std::vector<double>{0, 3, 1, 4, 9, 9});
  Tensor e = expand(from_vector(std::vector<double>{1, 2}, {2, 1}), {2, 3});
  CHECK(e.strides() == Shape{1, 0});
  CHECK(values(e) == std::vector<double>{1, 1, 1, 2, 2, 2});
  CHECK(unsqueeze(t, 0).shape() == Shape{1, 2, 3});
  CHECK(squeeze(unsqueeze(t, 2), 2).shape() == Shape{2, 3});
  CHECK(permute(zeros({2, 3, 4}), {2, 0, 1}).shape() == Shape{4, 2, 3});
  CHECK(flatten(zeros({2, 3, 4}), 1).shape() == Shape{2, 12});
}

TEST_CASE("reshape returns a view when strides allow and a copy otherwise") {
  Tensor t = arange(24, DType::f64);
  Tensor r = reshape(t, {2, 3, 4});
  CHECK(r.storage() == t.storage());
  CHECK(reshape(r, {6, -1}).shape() == Shape{6, 4});
  // A transposed view can merge the dims it keeps together.
  Tensor p = permute(r, {1, 0, 2});  // [3, 2, 4], last dim contiguous
  Tensor merged_last = reshape(p, {3, 8});
  CHECK(merged_last.storage() != t.storage());  // dims 0,1 swapped: 2x4 chunk is not contiguous -> copy
  Tensor q = reshape(transpose(reshape(t, {4, 6}), 0, 1), {6, 2, 2});  // splitting a transposed dim: a view
  CHECK(q.storage() == t.storage());
  CHECK(values(q) == values(contiguous_copy(transpose(reshape(t, {4, 6}), 0, 1))));
  CHECK(values(merged_last) == values(contiguous_copy(p)));
  CHECK_THROWS_WITH_AS(reshape(t, {5, -1}), doctest::Contains("cannot infer"), Error);
  CHECK_THROWS_WITH_AS(reshape(t, {-1, -1}), doctest::Contains("more than one -1"), Error);
}

TEST_CASE("view metadata is bounds-checked") {
  Tensor t = zeros({4});
  CHECK_THROWS_WITH_AS(t.view_as_strided({5}, {1}, 0), doctest::Contains("reaches past the storage"), Error);
  CHECK_THROWS_WITH_AS(narrow(t, 0, 3, 2), doctest::Contains("out of bounds"), Error);
  CHECK_THROWS_WITH_AS(transpose(t, 0, 2), doctest::Contains("out of range"), Error);
  CHECK_THROWS_WITH_AS(expand(zeros({2}), {3}), doctest::Contains("cannot expand"), Error);
  CHECK_THROWS_WITH_AS(t.data<double>(), doctest::Contains("requested f64"), Error);
  CHECK_THROWS_WITH_AS(Tensor().shape(), doctest::Contains("undefined"), Error);
}

TEST_CASE("devices: parse, describe and fail clearly without a CUDA backend") {
  CHECK(parse_device("cpu") == Device::cpu());
  CHECK(parse_device("cuda:1") == Device::cuda(1));
  CHECK(Device::cuda(2).str() == "cuda:2");
  CHECK_THROWS_WITH_AS(parse_device("tpu"), doctest::Contains("unknown device 'tpu'"), Error);
  CHECK_THROWS_WITH_AS(parse_device("cuda:x"), doctest::Contains("unknown device"), Error);
  if (!has_gpu()) {
    CHECK_THROWS_AS(zeros({2}, DType::f32, Device::cuda(0)), Error);
  }
  CHECK(zeros({2, 3}).describe() == "f32[2, 3] cpu");
}
