#pragma once
#include <cstddef>
#include <memory>

#include "engine/allocator.h"

namespace cortex {

// A reference-counted block of device memory shared by every view of it.
class StorageImpl {
 public:
  StorageImpl(size_t nbytes, Device device)
      : data_(allocator_for(device.type).allocate(nbytes, device)), nbytes_(nbytes), device_(device) {}
  // Wraps memory owned elsewhere (e.g. a memory-mapped file); the deleter releases it.
  StorageImpl(DataPtr data, size_t nbytes, Device device) : data_(std::move(data)), nbytes_(nbytes), device_(device) {}

  void* data() const { return data_.get(); }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  DataPtr data_;
  size_t nbytes_;
  Device device_;
};

using Storage = std::shared_ptr<StorageImpl>;

}  // namespace cortex
