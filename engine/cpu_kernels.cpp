// CPU kernels for the engine's own tables: strided copy with dtype conversion, fill, random.
#include <cmath>

#include "engine/factory.h"
#include "engine/philox.h"
#include "engine/strided_loop.h"

namespace cortex {
namespace {

void cpu_copy(const Tensor& dst, const Tensor& src) {
  CORTEX_CHECK(dst.device().is_cpu() && src.device().is_cpu(), "copy_", "CPU kernel got ", dst.describe(), " <- ",
               src.describe());
  visit_dtype(dst.dtype(), "copy_", [&](auto dtag) {
    using D = typename decltype(dtag)::type;
    visit_dtype(src.dtype(), "copy_", [&](auto stag) {
      using S = typename decltype(stag)::type;
      D* out = static_cast<D*>(dst.data_ptr());
      const S* in = static_cast<const S*>(src.data_ptr());
      for_each_row<2>(dst.shape(), {&dst.strides(), &src.strides()}, [&](auto off, int64_t n, auto st) {
        D* o = out + off[0];
        const S* i = in + off[1];
        if (st[0] == 1 && st[1] == 1) {
          for (int64_t j = 0; j < n; ++j) o[j] = convert<D>(i[j]);
        } else {
          for (int64_t j = 0; j < n; ++j) o[j * st[0]] = convert<D>(i[j * st[1]]);
        }
      });
    });
  });
}

void cpu_fill(const Tensor& dst, double value) {
  visit_dtype(dst.dtype(), "fill_", [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T v = convert<T>(value);
    T* out = static_cast<T*>(dst.data_ptr());
    for_each_row<1>(dst.shape(), {&dst.strides()}, [&](auto off, int64_t n, auto st) {
      for (int64_t j = 0; j < n; ++j) out[off[0] + j * st[0]] = v;
    });
  });
}

// Element i of the (contiguous order of the) tensor takes stream element i, whatever the strides.
template <typename T>
T random_value(RandomKind kind, double a, double b, Generator::Draw draw, uint64_t i) {
  switch (kind) {
    case RandomKind::uniform:
      return convert<T>(a + (b - a) * static_cast<double>(philox::uniform(draw.seed, draw.stream, i)));
    case RandomKind::normal:
      return convert<T>(a + b * static_cast<double>(philox::normal(draw.seed, draw.stream, i)));
    case RandomKind::bernoulli:
      return convert<T>(philox::uniform(draw.seed, draw.stream, i) < static_cast<float>(a) ? 1.0 : 0.0);
    case RandomKind::randint: {
      const uint64_t range = static_cast<uint64_t>(b - a);
      const uint64_t word = (static_cast<uint64_t>(philox::word(draw.seed, draw.stream, 2 * i)) << 32) |
                            philox::word(draw.seed, draw.stream, 2 * i + 1);
      return convert<T>(static_cast<double>(static_cast<int64_t>(a) + static_cast<int64_t>(word % range)));
    }
  }
  return T{};
}

void cpu_random(const Tensor& dst, RandomKind kind, double a, double b, Generator::Draw draw) {
  CORTEX_CHECK(dst.is_contiguous(), "random", "expects a contiguous destination, got strides ",
               shape_str(dst.strides()));
  visit_dtype(dst.dtype(), "random", [&](auto tag) {
    using T = typename decltype(tag)::type;
    T* out = static_cast<T*>(dst.data_ptr());
    parallel_for(dst.numel(), 16384, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) out[i] = random_value<T>(kind, a, b, draw, static_cast<uint64_t>(i));
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(copy_kernel, CPU, cpu_copy);
CORTEX_REGISTER_KERNEL(fill_kernel, CPU, cpu_fill);
CORTEX_REGISTER_KERNEL(random_kernel, CPU, cpu_random);

}  // namespace cortex
