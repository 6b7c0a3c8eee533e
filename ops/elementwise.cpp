#include "ops/elementwise.h"

#include "autograd/accumulate.h"
#include "autograd/grad_mode.h"
#include "autograd/node.h"
#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/reduce.h"
#include "ops/views.h"

namespace cortex {
namespace {

void check_pair(const Tensor& a, const Tensor& b, const char* op) {
  CORTEX_CHECK(a.defined() && b.defined(), op, "undefined operand");
  CORTEX_CHECK(a.device() == b.device(), op, "operands on different devices: ", a.describe(), " and ", b.describe());
  CORTEX_CHECK(a.dtype() == b.dtype(), op, "operands of different dtypes: ", a.describe(), " and ", b.describe(),
               " (convert one with cortex::to)");
}

Tensor run_unary(UnaryOp op, const Tensor& x, double alpha, const char* name) {
  CORTEX_CHECK(x.defined(), name, "undefined operand");
  CORTEX_CHECK(is_floating(x.dtype()) || op == UnaryOp::neg || op == UnaryOp::abs || op == UnaryOp::add_scalar ||
                   op == UnaryOp::mul_scalar,
               name, "expects a floating tensor, got ", x.describe());
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  unary_kernel().get(x.device())(op, x, alpha, out);
  return out;
}

Tensor run_binary(BinaryOp op, const Tensor& a, const Tensor& b, const char* name, DType out_dtype) {
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, out_dtype, a.device());
  binary_kernel().get(a.device())(op, expand_data(a, shape), expand_data(b, shape), out);
  return out;
}

// A differentiable binary op: forward kernel plus the gradient of each operand
// (before it is summed back to the operand's broadcast shape).
template <typename GradA, typename GradB>
Tensor binary_op(BinaryOp op, const char* name, const Tensor& a, const Tensor& b, GradA grad_a, GradB grad_b) {
  check_pair(a, b, name);
  Tensor out = run_binary(op, a, b, name, a.dtype());
  return autograd::record(name, out, {a, b}, [a_shape = a.shape(), b_shape = b.shape(), grad_a, grad_b](
                                                  const Tensor& g, const autograd::NeedsGrad& needs) {
    return std::vector<Tensor>{needs[0] ? sum_to(grad_a(g), a_shape) : Tensor(),
                               needs[1] ? sum_to(grad_b(g), b_shape) : Tensor()};
  });
}

Tensor compare(BinaryOp op, const char* name, const Tensor& a, const Tensor& b) {
  check_pair(a, b, name);
  return run_binary(op, a, b, name, DType::boolean);
}

// y = f(x) with dy/dx expressed through a backward binary kernel on the saved input or output.
Tensor unary_with_kernel_grad(UnaryOp op, BinaryOp grad_op, bool grad_uses_output, const char* name, const Tensor& x) {
  Tensor y = run_unary(op, x, 0.0, name);
  Tensor saved = grad_uses_output ? y.detach() : x.detach();
  return autograd::record(name, y, {x}, [saved, grad_op, name](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{run_binary(grad_op, saved, g, name, g.dtype())};
  });
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::add, "add", a, b, [](const Tensor& g) { return g; }, [](const Tensor& g) { return g; });
}
Tensor sub(const Tensor& a, const Tensor& b) {
  return binary_op(BinaryOp::sub, "sub", a, b, [](const Tensor& g) { return g; }, [](const Tensor& g) { return neg(g); });
}
Tensor mul(const Tensor& a, const Tensor& b) {
  Tensor ad = a.detach(), bd = b.detach();
  return binary_op(BinaryOp::mul, "mul", a, b, [bd](const Tensor& g) { return mul(g, bd); },
                   [ad](const Tensor& g) { return mul(g, ad); });
}
Tensor div(const Tensor& a, const Tensor& b) {
  Tensor ad = a.detach(), bd = b.detach();
  return binary_op(BinaryOp::div, "div", a, b, [bd](const Tensor& g) { return div(g, bd); },
                   [ad, bd](const Tensor& g) { return neg(div(mul(g, ad), square(bd))); });
}
Tensor pow(const Tensor& a, const Tensor& b) {
  Tensor ad = a.detach(), bd = b.detach();
  return binary_op(BinaryOp::pow, "pow", a, b,
                   [ad, bd](const Tensor& g) { return mul(g, mul(bd, pow(ad, sub(bd, 1.0)))); },
                   [ad, bd](const Tensor& g) { return mul(g, mul(pow(ad, bd), log(ad))); });
}
Tensor maximum(const Tensor& a, const Tensor& b) {
  Tensor mask = ge(a, b);
  Tensor z = zeros({}, a.dtype(), a.device());
  return binary_op(BinaryOp::maximum, "maximum", a, b, [mask, z](const Tensor& g) { return where(mask, g, z); },
                   [mask, z](const Tensor& g) { return where(mask, z, g); });
}
Tensor minimum(const Tensor& a, const Tensor& b) {
  Tensor mask = le(a, b);
  Tensor z = zeros({}, a.dtype(), a.device());
  return binary_op(BinaryOp::minimum, "minimum", a, b, [mask, z](const Tensor& g) { return where(mask, g, z); },
                   [mask, z](const Tensor& g) { return where(mask, z, g); });
}

Tensor add(const Tensor& a, double s) {
  Tensor y = run_unary(UnaryOp::add_scalar, a, s, "add");
  return autograd::record("add_scalar", y, {a}, [](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{g};
  });
}
Tensor sub(const Tensor& a, double s) { return add(a, -s); }
Tensor rsub(double s, const Tensor& a) {
  Tensor y = run_unary(UnaryOp::rsub_scalar, a, s, "rsub");
  return autograd::record("rsub_scalar", y, {a}, [](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{neg(g)};
  });
}
Tensor mul(const Tensor& a, double s) {
  Tensor y = run_unary(UnaryOp::mul_scalar, a, s, "mul");
  return autograd::record("mul_scalar", y, {a}, [s](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{mul(g, s)};
  });
}
Tensor div(const Tensor& a, double s) {
  CORTEX_CHECK(s != 0.0, "div", "division by the scalar 0");
  return mul(a, 1.0 / s);
}
Tensor pow(const Tensor& a, double p) {
  Tensor y = run_unary(UnaryOp::pow_scalar, a, p, "pow");
  Tensor ad = a.detach();
  return autograd::record("pow_scalar", y, {a}, [ad, p](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{mul(g, mul(pow(ad, p - 1.0), p))};
  });
}
Tensor clamp(const Tensor& a, double low, double high) {
  CORTEX_CHECK(low <= high, "clamp", "low ", low, " > high ", high);
  Tensor y = run_unary(UnaryOp::clamp_max, run_unary(UnaryOp::clamp_min, a, low, "clamp"), high, "clamp");
  Tensor ad = a.detach();
  return autograd::record("clamp", y, {a}, [ad, low, high](const Tensor& g, const autograd::NeedsGrad&) {
    Tensor z = zeros({}, g.dtype(), g.device());
    Tensor above_low = ge(ad, full({}, low, ad.dtype(), ad.device()));
    Tensor below_high = le(ad, full({}, high, ad.dtype(), ad.device()));
    return std::vector<Tensor>{where(above_low, where(below_high, g, z), z)};
  });
}

Tensor neg(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::neg, x, 0.0, "neg");
  return autograd::record("neg", y, {x}, [](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{neg(g)};
  });
}
Tensor exp(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::exp, x, 0.0, "exp");
  Tensor yd = y.detach();
  return autograd::record("exp", y, {x}, [yd](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{mul(g, yd)};
  });
}
Tensor log(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::log, x, 0.0, "log");
  Tensor xd = x.detach();
  return autograd::record("log", y, {x}, [xd](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{div(g, xd)};
  });
}
Tensor sqrt(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::sqrt, x, 0.0, "sqrt");
  Tensor yd = y.detach();
  return autograd::record("sqrt", y, {x}, [yd](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{div(mul(g, 0.5), yd)};
  });
}
Tensor rsqrt(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::rsqrt, x, 0.0, "rsqrt");
  Tensor yd = y.detach();
  return autograd::record("rsqrt", y, {x}, [yd](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{mul(g, mul(pow(yd, 3.0), -0.5))};
  });
}
Tensor tanh(const Tensor& x) { return unary_with_kernel_grad(UnaryOp::tanh, BinaryOp::tanh_backward, true, "tanh", x); }
Tensor sigmoid(const Tensor& x) {
  return unary_with_kernel_grad(UnaryOp::sigmoid, BinaryOp::sigmoid_backward, true, "sigmoid", x);
}
Tensor relu(const Tensor& x) { return unary_with_kernel_grad(UnaryOp::relu, BinaryOp::relu_backward, false, "relu", x); }
Tensor gelu(const Tensor& x) { return unary_with_kernel_grad(UnaryOp::gelu, BinaryOp::gelu_backward, false, "gelu", x); }
Tensor silu(const Tensor& x) { return unary_with_kernel_grad(UnaryOp::silu, BinaryOp::silu_backward, false, "silu", x); }
Tensor abs(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::abs, x, 0.0, "abs");
  Tensor sign = run_unary(UnaryOp::sign, x, 0.0, "abs");
  return autograd::record("abs", y, {x}, [sign](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{mul(g, sign)};
  });
}
Tensor square(const Tensor& x) {
  Tensor y = run_unary(UnaryOp::square, x, 0.0, "square");
  Tensor xd = x.detach();
  return autograd::record("square", y, {x}, [xd](const Tensor& g, const autograd::NeedsGrad&) {
    return std::vector<Tensor>{mul(g, mul(xd, 2.0))};
  });
}

Tensor eq(const Tensor& a, const Tensor& b) { return compare(BinaryOp::eq, "eq", a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(BinaryOp::ne, "ne", a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::lt, "lt", a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(BinaryOp::le, "le", a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(BinaryOp::gt, "gt", a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(BinaryOp::ge, "ge", a, b); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  check_pair(a, b, "where");
  CORTEX_CHECK(cond.dtype() == DType::boolean, "where", "condition must be bool, got ", cond.describe());
  CORTEX_CHECK(cond.device() == a.device(), "where", "condition ", cond.describe(), " and values ", a.describe(),
               " on different devices");
  const Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, a.dtype(), a.device());
  where_kernel().get(a.device())(expand_data(cond, shape), expand_data(a, shape), expand_data(b, shape), out);
  Tensor c = cond.detach();
  return autograd::record("where", out, {a, b}, [c, a_shape = a.shape(), b_shape = b.shape()](
                                                    const Tensor& g, const autograd::NeedsGrad& needs) {
    Tensor z = zeros({}, g.dtype(), g.device());
    return std::vector<Tensor>{needs[0] ? sum_to(where(c, g, z), a_shape) : Tensor(),
                               needs[1] ? sum_to(where(c, z, g), b_shape) : Tensor()};
  });
}

void add_(const Tensor& dst, const Tensor& src, double alpha) {
  CORTEX_CHECK(!(grad_enabled() && dst.requires_grad()), "add_",
               "in-place update of a tensor that requires grad; wrap it in NoGradGuard");
  check_pair(dst, src, "add_");
  Tensor scaled = alpha == 1.0 ? src : run_unary(UnaryOp::mul_scalar, src, alpha, "add_");
  Tensor sum = run_binary(BinaryOp::add, dst, scaled, "add_", dst.dtype());
  CORTEX_CHECK(sum.shape() == dst.shape(), "add_", "source ", src.describe(), " does not broadcast to ", dst.describe());
  copy_(dst, sum);
}

void mul_(const Tensor& dst, double s) {
  CORTEX_CHECK(!(grad_enabled() && dst.requires_grad()), "mul_",
               "in-place update of a tensor that requires grad; wrap it in NoGradGuard");
  unary_kernel().get(dst.device())(UnaryOp::mul_scalar, dst, s, dst);
}

// Gradient accumulation in autograd/ uses this layer's add.
static const bool g_installed_add = [] {
  autograd::set_add_fn([](const Tensor& a, const Tensor& b) { return add(a, b); });
  return true;
}();

}  // namespace cortex
