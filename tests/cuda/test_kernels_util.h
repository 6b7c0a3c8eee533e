#pragma once
// Helpers for the CUDA kernel tests: every GPU kernel runs on inputs laid out in several
// ways (contiguous, transposed storage, misaligned by one element, broadcast) and writes
// into an output poisoned first (NaN for floats; integer outputs run twice with two
// different poisons), then is compared with the CPU kernel on the same values.
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "engine/factory.h"
#include "ops/kernels.h"
#include "ops/views.h"
#include "tests/test_util.h"

namespace cortex::test {

// Column counts that shake out tails, vector widths and the warp/block/tile switches.
inline const std::vector<int64_t> kKernelCols{1, 3, 17, 129, 1000, 4097};

enum class Layout { contiguous, transposed, misaligned };
inline const Layout kLayouts[] = {Layout::contiguous, Layout::transposed, Layout::misaligned};

inline const char* layout_name(Layout l) {
  switch (l) {
    case Layout::contiguous: return "contiguous";
    case Layout::transposed: return "transposed storage";
    case Layout::misaligned: return "misaligned by one element";
  }
  return "?";
}

// A GPU tensor of `shape` and `dtype` in the given layout, every element set to `fill`.
inline Tensor gpu_filled(const Shape& shape, DType dtype, Layout layout, double fill) {
  const int64_t n = shape_numel(shape);
  switch (layout) {
    case Layout::contiguous: return full(shape, fill, dtype, gpu());
    case Layout::misaligned: {
      Tensor buf = full({n + 1}, fill, dtype, gpu());
      return buf.view_as_strided(shape, contiguous_strides(shape), 1);
    }
    case Layout::transposed: {
      if (shape.size() < 2) {  // every other element
        Tensor buf = full({2 * n + 1}, fill, dtype, gpu());
        return buf.view_as_strided(shape, Shape(shape.size(), 2), 0);
      }
      Shape t = shape;
      std::swap(t[t.size() - 1], t[t.size() - 2]);
      return transpose_data(full(t, fill, dtype, gpu()), -1, -2);
    }
  }
  return Tensor();
}

// cpu's values on the GPU in the given layout.
inline Tensor to_gpu(const Tensor& cpu, Layout layout = Layout::contiguous) {
  Tensor t = gpu_filled(cpu.shape(), cpu.dtype(), layout, 0);
  copy_(t, cpu);
  return t;
}

// A view of `t` broadcast to `shape` (zero strides where t has size 1 or is missing).
inline Tensor broadcast_view(const Tensor& t, const Shape& shape) { return expand_data(t, shape); }

inline double rtol_for(DType t) {
  switch (t) {
    case DType::f32: return 1e-5;
    case DType::f64: return 1e-12;
    case DType::bf16: return 1e-2;
    case DType::f16: return 2e-3;
    default: return 0;
  }
}
inline double atol_for(DType t) {
  switch (t) {
    case DType::f32: return 1e-6;
    case DType::f64: return 1e-12;
    case DType::bf16: return 1e-2;
    case DType::f16: return 2e-3;
    default: return 0;
  }
}

// Poisons that an unwritten output element cannot pass: NaN for floats; for integers and
// bool two runs with different poisons, since any single value might be the right answer.
inline std::vector<double> poisons_for(DType t) {
  if (is_floating(t)) return {NAN};
  if (t == DType::boolean) return {0, 1};
  return {77, 11};
}

// Runs `launch(out)` into a GPU output of `shape`/`dtype`/`layout` for every poison and
// checks it against `expected` (a CPU tensor).
inline void check_gpu_output(const std::function<void(const Tensor&)>& launch, const Tensor& expected, DType dtype,
                             Layout layout, double rtol, double atol, const std::string& what) {
  for (double poison : poisons_for(dtype)) {
    Tensor out = gpu_filled(expected.shape(), dtype, layout, poison);
    launch(out);
    expect_close(out, expected, rtol, atol, what + " (output " + layout_name(layout) + ")");
  }
}

inline const char* dname(DType t) { return dtype_name(t); }

}  // namespace cortex::test
