#include "autograd/node.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

TEST_CASE("gradients accumulate into leaves across uses and calls") {
  Tensor x = from_vector(std::vector<double>{1, 2, 3}, {3});
  x.set_requires_grad();
  Tensor y = add(mul(x, x), x);  // x used three times
  backward(sum(y));
  CHECK(values(x.grad()) == std::vector<double>{3, 5, 7});
  backward(sum(mul(x, 2.0)));
  CHECK(values(x.grad()) == std::vector<double>{5, 7, 9});
  x.zero_grad();
  CHECK(!x.grad().defined());
}

TEST_CASE("backward with an explicit output gradient") {
  Tensor x = from_vector(std::vector<double>{1, 2}, {2});
  x.set_requires_grad();
  Tensor y = mul(x, 3.0);
  backward(y, from_vector(std::vector<double>{1, 10}, {2}));
  CHECK(values(x.grad()) == std::vector<double>{3, 30});
  Tensor z = mul(x, 3.0);
  CHECK_THROWS_WITH_AS(backward(z), doctest::Contains("single-element"), Error);
  CHECK_THROWS_WITH_AS(backward(mul(x, 1.0), zeros({3}, DType::f64)), doctest::Contains("does not match"), Error);
}

TEST_CASE("no_grad, detach and leaves without requires_grad record nothing") {
  Tensor x = random({3}, 1);
  x.set_requires_grad();
  {
    NoGradGuard guard;
    CHECK(!mul(x, x).requires_grad());
  }
  CHECK(mul(x, x).requires_grad());
  CHECK(!mul(x.detach(), 2.0).requires_grad());
  Tensor c = random({3}, 2);
  CHECK(!add(c, c).requires_grad());
  CHECK_THROWS_WITH_AS(backward(sum(c)), doctest::Contains("does not require grad"), Error);
  CHECK_THROWS_WITH_AS(zeros({2}, DType::i64).set_requires_grad(), doctest::Contains("only floating"), Error);
}

TEST_CASE("saved tensors are released after backward unless retain_graph") {
  Tensor x = random({4}, 3);
  x.set_requires_grad();
  std::weak_ptr<StorageImpl> saved;
  Tensor loss;
  {
    Tensor e = exp(x);  // exp saves its output
    saved = e.storage();
    loss = sum(e);
  }
  CHECK(!saved.expired());  // the graph still holds exp's output
  backward(loss);
  CHECK(saved.expired());
  CHECK_THROWS_WITH_AS(backward(loss), doctest::Contains("already freed"), Error);

  Tensor y = random({4}, 4);
  y.set_requires_grad();
  Tensor l2 = sum(exp(y));
  backward(l2, Tensor(), /*retain_graph=*/true);
  backward(l2);
  expect_close(y.grad(), mul(exp(y.detach()), 2.0), 1e-12, 1e-12, "two passes");
}

TEST_CASE("grad-ready hooks fire once per backward with the final gradient") {
  Tensor w = random({3}, 5);
  w.set_requires_grad();
  int calls = 0;
  std::vector<double> seen;
  w.register_grad_ready_hook([&](const Tensor& g) {
    ++calls;
    seen = values(g);
  });
  Tensor a = mul(w, 2.0), b = mul(w, 3.0);
  backward(sum(add(a, b)));
  CHECK(calls == 1);
  CHECK(seen == std::vector<double>{5, 5, 5});
}

TEST_CASE("in-place updates refuse tensors that record history") {
  Tensor w = random({3}, 6);
  w.set_requires_grad();
  CHECK_THROWS_WITH_AS(add_(w, w), doctest::Contains("NoGradGuard"), Error);
  NoGradGuard guard;
  add_(w, ones({3}, DType::f64), 2.0);
  mul_(w, 0.5);
}

TEST_CASE("a branch that contributes no gradient does not stall the graph") {
  Tensor x = random({3}, 7);
  x.set_requires_grad();
  Tensor mask = gt(x.detach(), zeros({}, DType::f64));
  Tensor y = add(where(mask, x, zeros({}, DType::f64)), mul(x, 2.0));
  backward(sum(y));
  auto g = values(x.grad()), xv = values(x);
  for (size_t i = 0; i < g.size(); ++i) CHECK(g[i] == (xv[i] > 0 ? 3.0 : 2.0));
}
