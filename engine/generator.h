#pragma once
#include <cstdint>
#include <mutex>

namespace cortex {

// A seed plus a stream counter: every random op takes the next stream, so repeating the
// same sequence of ops from the same seed reproduces the same numbers on any device.
class Generator {
 public:
  explicit Generator(uint64_t seed = 0x5eed) : seed_(seed) {}
  void manual_seed(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mu_);
    seed_ = seed;
    stream_ = 0;
  }
  struct Draw {
    uint64_t seed;
    uint64_t stream;
  };
  Draw next() {
    std::lock_guard<std::mutex> lock(mu_);
    return {seed_, stream_++};
  }
  uint64_t seed() const { return seed_; }
  uint64_t stream() const { return stream_; }
  // Exact resume: restore the counter saved with a checkpoint.
  void set_state(uint64_t seed, uint64_t stream) {
    std::lock_guard<std::mutex> lock(mu_);
    seed_ = seed;
    stream_ = stream;
  }

 private:
  std::mutex mu_;
  uint64_t seed_;
  uint64_t stream_ = 0;
};

Generator& default_generator();
void manual_seed(uint64_t seed);

}  // namespace cortex
