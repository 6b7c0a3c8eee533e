// The op profiler counts kernel calls by kernel table while on, and nothing while off.
#include <doctest/doctest.h>

#include <string>

#include "engine/factory.h"
#include "engine/op_profiler.h"
#include "ops/ops.h"

using namespace cortex;

namespace {

// The table row of a kernel, or "" when it has none.
std::string row_of(const std::string& report, const std::string& kernel) {
  const size_t at = report.find("| " + kernel + " |");
  return at == std::string::npos ? "" : report.substr(at, report.find('\n', at) - at);
}

}  // namespace

TEST_CASE("op profiler counts kernel calls only while enabled") {
  const bool was = profiler::enabled();
  profiler::reset();
  profiler::set_enabled(true);
  const Tensor a = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  const Tensor b = from_vector(std::vector<float>{1, 0, 2, 1, 0, 3}, {3, 2});
  const Tensor c = matmul(a, b);
  const Tensor d = add(add(c, c), c);
  profiler::set_enabled(false);
  (void)add(d, d);  // not counted
  const std::string report = profiler::report();
  profiler::set_enabled(was);

  CHECK(d.to_vector<float>() == std::vector<float>{15, 33, 42, 69});
  const std::string matmul_row = row_of(report, "matmul_kernel");
  const std::string binary_row = row_of(report, "binary_kernel");
  REQUIRE(!matmul_row.empty());
  REQUIRE(!binary_row.empty());
  CHECK(matmul_row.find("| cpu | 1 |") != std::string::npos);
  CHECK(binary_row.find("| cpu | 2 |") != std::string::npos);
  CHECK(report.find("| all kernels |") != std::string::npos);

  profiler::reset();
  CHECK(row_of(profiler::report(), "binary_kernel").empty());
}

TEST_CASE("op profiler names a kernel called from inside another and counts the outer one in the total") {
  const bool was = profiler::enabled();
  profiler::reset();
  profiler::set_enabled(true);
  {
    profiler::Scope outer("outer_kernel", Device::cpu());
    profiler::Scope inner("inner_kernel", Device::cpu());
  }
  {
    profiler::Scope alone("inner_kernel", Device::cpu());
  }
  profiler::set_enabled(was);
  const std::string report = profiler::report();
  profiler::reset();
  CHECK(row_of(report, "outer_kernel").find("| cpu | 1 |") != std::string::npos);
  CHECK(row_of(report, "inner_kernel (inside outer_kernel)").find("| cpu | 1 |") != std::string::npos);
  CHECK(row_of(report, "inner_kernel").find("| cpu | 1 |") != std::string::npos);
  // Two outermost calls (outer, the lone inner), the nested one not added again.
  CHECK(report.find("| all kernels | | 2 |") != std::string::npos);
}
