#include "engine/allocator.h"

#include <cstdlib>
#include <new>

#include "engine/error.h"

namespace cortex {
namespace {

// 64-byte aligned host memory: a cache line, and enough for every SIMD load width.
class CpuAllocator final : public Allocator {
 public:
  DataPtr allocate(size_t nbytes, Device) override {
    const size_t rounded = ((nbytes == 0 ? 1 : nbytes) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, rounded);
    if (!p) CORTEX_FAIL("cpu allocator", "out of host memory allocating ", nbytes, " bytes");
    return DataPtr(p, [](void* q) { std::free(q); });
  }
};

CpuAllocator g_cpu_allocator;
Allocator* g_allocators[kNumDeviceTypes] = {&g_cpu_allocator, nullptr};

}  // namespace

Allocator& allocator_for(DeviceType type) {
  Allocator* a = g_allocators[static_cast<int>(type)];
  CORTEX_CHECK(a != nullptr, "allocate", "no allocator for device type ",
               type == DeviceType::CUDA ? "cuda (this build has no CUDA backend)" : "?");
  return *a;
}

void set_allocator(DeviceType type, Allocator* allocator) { g_allocators[static_cast<int>(type)] = allocator; }

}  // namespace cortex
