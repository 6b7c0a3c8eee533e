#pragma once
// A linear layer with its bias and activation in the GEMM's epilogue: out = act(x w^T + b),
// or with a residual instead of an activation, out = r + x w^T + b (the GEMM's beta term).
// Unfused, a bf16 serving forward spends as long on the separate bias-add and GELU passes
// over every activation as on the GEMMs; cuBLASLt applies both while the tile is in
// registers. The GELU is the tanh form, as ops' gelu.
//
// The op runs the fused kernel only where one is registered and no gradient is being
// recorded; everywhere else (and as its reference and backward) it is linear() then the
// activation.
#include <cstdint>

#include "engine/dispatch.h"
#include "engine/tensor.h"

namespace cortex {

enum class LinearActivation : uint8_t { none, gelu };

// x [M, K] with a unit column stride, w [N, K] contiguous, bias [N] contiguous or undefined,
// residual [M, N] contiguous or undefined (only with act none), out [M, N] contiguous; one
// floating dtype.
CORTEX_KERNEL_TABLE(fused_linear_kernel, void(const Tensor& x, const Tensor& w, const Tensor& bias,
                                              LinearActivation act, const Tensor& residual, const Tensor& out));

// x [..., K], w [N, K], bias [N] or undefined -> [..., N]; residual (optional, only with act
// none) has the output's shape.
Tensor fused_linear(const Tensor& x, const Tensor& w, const Tensor& bias, LinearActivation act,
                    const Tensor& residual = Tensor());

}  // namespace cortex
