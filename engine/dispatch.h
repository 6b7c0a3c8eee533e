#pragma once
// Per-device kernel tables. An op's definition looks up its kernel for the tensor's device;
// each backend registers its implementation from a static initialiser next to the kernel:
//
//   CORTEX_KERNEL_TABLE(rmsnorm_forward_kernel, void(const Tensor&, const Tensor&, double, Tensor&, Tensor&));
//   CORTEX_REGISTER_KERNEL(rmsnorm_forward_kernel, CPU, cpu_rmsnorm_forward);   // ops/cpu/norm.cpp
//   CORTEX_REGISTER_KERNEL(rmsnorm_forward_kernel, CUDA, cuda_rmsnorm_forward); // cuda/kernels/norm.cu
#include <string>
#include <utility>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/macros.h"
#include "engine/op_profiler.h"

namespace cortex {

// What KernelTable::get returns: the kernel bound to its name and device, callable like the
// function itself; it times the call when the op profiler is on (engine/op_profiler.h).
template <typename Fn>
class KernelCall;

template <typename R, typename... Args>
class KernelCall<R(Args...)> {
 public:
  KernelCall(const char* name, R (*fn)(Args...), Device device) : name_(name), fn_(fn), device_(device) {}
  R operator()(Args... args) const {
    if (!profiler::enabled()) [[likely]]
      return fn_(std::forward<Args>(args)...);
    profiler::Scope scope(name_, device_);
    return fn_(std::forward<Args>(args)...);
  }

 private:
  const char* name_;
  R (*fn_)(Args...);
  Device device_;
};

template <typename Fn>
class KernelTable {
 public:
  explicit KernelTable(const char* name) : name_(name) {}
  void set(DeviceType type, Fn* fn) { fns_[static_cast<int>(type)] = fn; }
  bool has(DeviceType type) const { return fns_[static_cast<int>(type)] != nullptr; }
  KernelCall<Fn> get(Device device) const {
    Fn* fn = fns_[static_cast<int>(device.type)];
    if (!fn)
      CORTEX_FAIL(name_, "no kernel for device ", device.str(),
                  device.is_cuda() ? " (is this build compiled with CUDA?)" : "");
    return KernelCall<Fn>(name_, fn, device);
  }
  const char* name() const { return name_; }

 private:
  const char* name_;
  Fn* fns_[kNumDeviceTypes] = {};
};

struct KernelRegistration {
  template <typename Fn>
  KernelRegistration(KernelTable<Fn>& table, DeviceType type, Fn* fn) {
    table.set(type, fn);
  }
};

}  // namespace cortex

#define CORTEX_KERNEL_TABLE(name, ...)                         \
  inline ::cortex::KernelTable<__VA_ARGS__>& name() {          \
    static ::cortex::KernelTable<__VA_ARGS__> table(#name);    \
    return table;                                              \
  }

#define CORTEX_REGISTER_KERNEL(table, device, fn)                                                     \
  static const ::cortex::KernelRegistration CORTEX_CONCAT(cortex_kernel_registration_, __LINE__)( \
      table(), ::cortex::DeviceType::device, fn)
