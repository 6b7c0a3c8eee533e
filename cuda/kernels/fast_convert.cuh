#pragma once
// Device conversions between the storage types and their arithmetic types that use the
// GPU's conversion instructions for bf16 and f16 (one instruction instead of the portable
// bit manipulation in engine/half.h). Both round to nearest even, so finite values and
// infinities convert to the same bits as cortex::convert; a NaN stays a NaN (its payload
// may differ).
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstring>
#include <type_traits>

#include "engine/dtype.h"

namespace cortex::cuda {

template <typename T>
__device__ __forceinline__ float bits_to_float(T v) {
  if constexpr (std::is_same_v<T, bfloat16>) {
    return __uint_as_float(static_cast<unsigned>(v.bits) << 16);
  } else {
    return __half2float(__ushort_as_half(v.bits));
  }
}

// To from From, like cortex::convert.
template <typename To, typename From>
__device__ __forceinline__ To dconvert(From v) {
  constexpr bool from16 = std::is_same_v<From, bfloat16> || std::is_same_v<From, float16>;
  constexpr bool to16 = std::is_same_v<To, bfloat16> || std::is_same_v<To, float16>;
  if constexpr (from16 && std::is_same_v<To, float>) {
    return bits_to_float(v);
  } else if constexpr (std::is_same_v<From, float> && std::is_same_v<To, bfloat16>) {
    return bfloat16::from_bits(__bfloat16_as_ushort(__float2bfloat16_rn(v)));
  } else if constexpr (std::is_same_v<From, float> && std::is_same_v<To, float16>) {
    return float16::from_bits(__half_as_ushort(__float2half_rn(v)));
  } else if constexpr (from16 && !std::is_same_v<To, From>) {
    return convert<To>(bits_to_float(v));
  } else if constexpr (to16 && !std::is_same_v<From, To>) {
    return dconvert<To>(static_cast<float>(static_cast<compute_t<From>>(v)));
  } else {
    return convert<To>(v);
  }
}

}  // namespace cortex::cuda
