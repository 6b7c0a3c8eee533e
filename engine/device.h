#pragma once
#include <cstdint>
#include <string>

namespace cortex {

enum class DeviceType : uint8_t { CPU = 0, CUDA = 1 };
constexpr int kNumDeviceTypes = 2;

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;

  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int index = 0) { return {DeviceType::CUDA, index}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device&) const = default;
  std::string str() const;  // "cpu" or "cuda:1"
};

// Parses "cpu", "cuda", "cuda:N"; throws a cortex::Error on anything else.
Device parse_device(const std::string& text);

// Number of devices of a type; CUDA reports 0 unless the CUDA backend is built and sees a GPU.
int device_count(DeviceType type);
// Backends announce themselves here (the CUDA runtime layer registers its counter).
void register_device_counter(DeviceType type, int (*counter)());

}  // namespace cortex
