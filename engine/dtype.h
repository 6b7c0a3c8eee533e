#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "engine/error.h"
#include "engine/half.h"

namespace cortex {

enum class DType : uint8_t { f32, f64, bf16, f16, i8, u8, boolean, i32, i64 };
constexpr int kNumDTypes = 9;

size_t dtype_size(DType t);
const char* dtype_name(DType t);        // "f32", "bf16", ...
DType dtype_from_name(const std::string& name);  // throws on an unknown name
bool is_floating(DType t);
bool is_integral(DType t);  // integer or bool

// The type arithmetic happens in: float for the 16-bit floats, the type itself otherwise.
template <typename T>
using compute_t = std::conditional_t<std::is_same_v<T, bfloat16> || std::is_same_v<T, float16>, float, T>;

template <typename T>
struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<bfloat16> { static constexpr DType value = DType::bf16; };
template <> struct dtype_of<float16> { static constexpr DType value = DType::f16; };
template <> struct dtype_of<int8_t> { static constexpr DType value = DType::i8; };
template <> struct dtype_of<uint8_t> { static constexpr DType value = DType::u8; };
template <> struct dtype_of<bool> { static constexpr DType value = DType::boolean; };
template <> struct dtype_of<int32_t> { static constexpr DType value = DType::i32; };
template <> struct dtype_of<int64_t> { static constexpr DType value = DType::i64; };

template <typename T>
struct TypeTag {
  using type = T;
};

// visit_dtype(t, "op", [&](auto tag) { using T = typename decltype(tag)::type; ... })
// calls the lambda with the C++ type of t. The *_floating variant rejects other dtypes.
template <typename F>
decltype(auto) visit_dtype(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(TypeTag<float>{});
    case DType::f64: return f(TypeTag<double>{});
    case DType::bf16: return f(TypeTag<bfloat16>{});
    case DType::f16: return f(TypeTag<float16>{});
    case DType::i8: return f(TypeTag<int8_t>{});
    case DType::u8: return f(TypeTag<uint8_t>{});
    case DType::boolean: return f(TypeTag<bool>{});
    case DType::i32: return f(TypeTag<int32_t>{});
    case DType::i64: return f(TypeTag<int64_t>{});
  }
  CORTEX_FAIL(op, "unknown dtype");
}

template <typename F>
decltype(auto) visit_floating(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::f32: return f(TypeTag<float>{});
    case DType::f64: return f(TypeTag<double>{});
    case DType::bf16: return f(TypeTag<bfloat16>{});
    case DType::f16: return f(TypeTag<float16>{});
    default: CORTEX_FAIL(op, "expected a floating dtype (f32, f64, bf16, f16), got ", dtype_name(t));
  }
}

template <typename F>
decltype(auto) visit_index(DType t, const char* op, F&& f) {
  switch (t) {
    case DType::i32: return f(TypeTag<int32_t>{});
    case DType::i64: return f(TypeTag<int64_t>{});
    default: CORTEX_FAIL(op, "expected an index dtype (i32 or i64), got ", dtype_name(t));
  }
}

// Converts between any two element types (through float for the 16-bit floats).
template <typename To, typename From>
CORTEX_HD To convert(From v) {
  if constexpr (std::is_same_v<To, From>) {
    return v;
  } else if constexpr (std::is_same_v<To, bfloat16> || std::is_same_v<To, float16>) {
    return To(static_cast<float>(static_cast<compute_t<From>>(v)));
  } else if constexpr (std::is_same_v<To, bool>) {
    return static_cast<compute_t<From>>(v) != compute_t<From>(0);
  } else {
    return static_cast<To>(static_cast<compute_t<From>>(v));
  }
}

}  // namespace cortex
