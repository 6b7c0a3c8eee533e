#include "engine/device.h"

#include "engine/error.h"

namespace cortex {

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

Device parse_device(const std::string& text) {
  if (text == "cpu") return Device::cpu();
  if (text == "cuda") return Device::cuda(0);
  if (text.rfind("cuda:", 0) == 0) {
    const std::string num = text.substr(5);
    if (!num.empty() && num.find_first_not_of("0123456789") == std::string::npos && num.size() < 4)
      return Device::cuda(std::stoi(num));
  }
  CORTEX_FAIL("parse_device", "unknown device '", text, "' (expected cpu, cuda or cuda:N)");
}

namespace {
int (*g_counters[kNumDeviceTypes])() = {};
}

void register_device_counter(DeviceType type, int (*counter)()) { g_counters[static_cast<int>(type)] = counter; }

int device_count(DeviceType type) {
  if (type == DeviceType::CPU) return 1;
  auto* counter = g_counters[static_cast<int>(type)];
  return counter ? counter() : 0;
}

}  // namespace cortex
