#pragma once
#include <cstddef>
#include <functional>
#include <memory>

#include "engine/device.h"

namespace cortex {

// Owning pointer to raw device memory; the deleter returns it to the allocator that made it.
using DataPtr = std::unique_ptr<void, std::function<void(void*)>>;

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual DataPtr allocate(size_t nbytes, Device device) = 0;
};

// One allocator per device type; the CUDA backend installs its caching allocator.
Allocator& allocator_for(DeviceType type);
void set_allocator(DeviceType type, Allocator* allocator);

}  // namespace cortex
