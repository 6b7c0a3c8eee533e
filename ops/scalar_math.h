#pragma once
// The scalar formulas behind the element-wise kernels, shared by the CPU reference and
// the CUDA kernels so both compute the same thing.
#include <cmath>

#include "engine/macros.h"
#include "ops/kernels.h"

namespace cortex::scalar {

using std::exp;
using std::log;
using std::pow;
using std::sqrt;
using std::tanh;

template <typename C>
CORTEX_HD C sigmoid(C x) {
  return x >= C(0) ? C(1) / (C(1) + exp(-x)) : exp(x) / (C(1) + exp(x));
}

// gelu, tanh form: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
template <typename C>
CORTEX_HD C gelu(C x) {
  const C k = C(0.7978845608028654);
  return C(0.5) * x * (C(1) + tanh(k * (x + C(0.044715) * x * x * x)));
}
template <typename C>
CORTEX_HD C gelu_grad(C x) {
  const C k = C(0.7978845608028654);
  const C t = tanh(k * (x + C(0.044715) * x * x * x));
  return C(0.5) * (C(1) + t) + C(0.5) * x * (C(1) - t * t) * k * (C(1) + C(3) * C(0.044715) * x * x);
}

template <typename C>
CORTEX_HD C unary(UnaryOp op, C x, C alpha) {
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::exp: return exp(x);
    case UnaryOp::log: return log(x);
    case UnaryOp::sqrt: return sqrt(x);
    case UnaryOp::rsqrt: return C(1) / sqrt(x);
    case UnaryOp::tanh: return tanh(x);
    case UnaryOp::sigmoid: return sigmoid(x);
    case UnaryOp::relu: return x > C(0) ? x : C(0);
    case UnaryOp::gelu: return gelu(x);
    case UnaryOp::silu: return x * sigmoid(x);
    case UnaryOp::abs: return x < C(0) ? -x : x;
    case UnaryOp::square: return x * x;
    case UnaryOp::reciprocal: return C(1) / x;
    case UnaryOp::sign: return x > C(0) ? C(1) : (x < C(0) ? C(-1) : C(0));
    case UnaryOp::add_scalar: return x + alpha;
    case UnaryOp::mul_scalar: return x * alpha;
    case UnaryOp::pow_scalar: return pow(x, alpha);
    case UnaryOp::rsub_scalar: return alpha - x;
    case UnaryOp::clamp_min: return x < alpha ? alpha : x;
    case UnaryOp::clamp_max: return x > alpha ? alpha : x;
  }
  return x;
}

// Arithmetic binary ops (comparisons are handled by compare()).
template <typename C>
CORTEX_HD C binary(BinaryOp op, C a, C b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::pow: return pow(a, b);
    case BinaryOp::maximum: return a > b ? a : b;
    case BinaryOp::minimum: return a < b ? a : b;
    case BinaryOp::relu_backward: return a > C(0) ? b : C(0);
    case BinaryOp::gelu_backward: return b * gelu_grad(a);
    case BinaryOp::silu_backward: {
      const C s = sigmoid(a);
      return b * s * (C(1) + a * (C(1) - s));
    }
    case BinaryOp::sigmoid_backward: return b * a * (C(1) - a);
    case BinaryOp::tanh_backward: return b * (C(1) - a * a);
    default: return C(0);
  }
}

CORTEX_HD bool is_comparison(BinaryOp op) {
  return op == BinaryOp::eq || op == BinaryOp::ne || op == BinaryOp::lt || op == BinaryOp::le ||
         op == BinaryOp::gt || op == BinaryOp::ge;
}

template <typename C>
CORTEX_HD bool compare(BinaryOp op, C a, C b) {
  switch (op) {
    case BinaryOp::eq: return a == b;
    case BinaryOp::ne: return a != b;
    case BinaryOp::lt: return a < b;
    case BinaryOp::le: return a <= b;
    case BinaryOp::gt: return a > b;
    case BinaryOp::ge: return a >= b;
    default: return false;
  }
}

}  // namespace cortex::scalar
