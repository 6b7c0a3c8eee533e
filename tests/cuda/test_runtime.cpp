// The CUDA runtime layer: device discovery (also without a GPU), errors, streams and events.
#ifdef CORTEX_WITH_CUDA
#include <thread>

#include "cuda/caching_allocator.h"
#include "cuda/runtime.h"
#include "cuda/stream.h"
#include "tests/test_util.h"

using namespace cortex;
using namespace cortex::test;

TEST_CASE("cuda runtime: the engine sees the runtime's device count, 0 without a GPU") {
  CHECK(device_count(DeviceType::CUDA) == cuda::device_count());
  CHECK(cuda::device_count() >= 0);
  if (cuda::device_count() == 0) {
    // Asking for CUDA memory without a device is a clear error, not a crash.
    try {
      empty({4}, DType::f32, Device::cuda(0));
      FAIL("allocating on a missing device did not throw");
    } catch (const Error& e) {
      CHECK(std::string(e.what()).find("cuda:0 does not exist") != std::string::npos);
    }
  }
}

TEST_CASE("cuda runtime: errors name the call, file, line and CUDA error") {
  try {
    cuda::throw_cuda_error(cudaErrorInvalidValue, "cudaMemcpyAsync(dst, src, n)", "cuda/kernels/copy.cu", 42);
    FAIL("no throw");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("cudaMemcpyAsync(dst, src, n)") != std::string::npos);
    CHECK(msg.find("cuda/kernels/copy.cu:42") != std::string::npos);
    CHECK(msg.find("cudaErrorInvalidValue") != std::string::npos);
  }
}

TEST_CASE("cuda runtime: host wait modes by name, both ways; unknown names refused") {
  for (const char* name : {"auto", "spin", "yield", "blocking"})
    CHECK(std::string(cuda::host_wait_name(cuda::host_wait_from_name(name))) == name);
  CHECK_THROWS_WITH_AS(cuda::host_wait_from_name("sleepy"), doctest::Contains("auto, spin, yield or blocking"), Error);
  CHECK_THROWS_AS(cuda::set_host_wait(cuda::device_count() + 1, cuda::HostWait::spin), Error);
}

CORTEX_GPU_TEST("cuda runtime: set_host_wait changes an initialised device's wait mode and keeps its other flags") {
  Tensor x = empty({16}, DType::f32, Device::cuda(0));  // the primary context is live from here
  unsigned before = 0;
  {
    cuda::DeviceGuard guard(0);
    REQUIRE(cudaGetDeviceFlags(&before) == cudaSuccess);
  }
  const cuda::HostWait original = cuda::host_wait(0);
  for (cuda::HostWait m : {cuda::HostWait::blocking, cuda::HostWait::yield, cuda::HostWait::spin}) {
    cuda::set_host_wait(0, m);
    CHECK(cuda::host_wait(0) == m);
    unsigned now = 0;
    cuda::DeviceGuard guard(0);
    REQUIRE(cudaGetDeviceFlags(&now) == cudaSuccess);
    CHECK((now & ~static_cast<unsigned>(cudaDeviceScheduleMask)) == (before & ~static_cast<unsigned>(cudaDeviceScheduleMask)));
  }
  // Work still runs and synchronises under the blocking mode.
  cuda::set_host_wait(0, cuda::HostWait::blocking);
  Tensor y = full({16}, 2.5f, DType::f32, Device::cuda(0));
  CHECK(to(y, Device::cpu()).to_vector<float>()[15] == 2.5f);
  cuda::set_host_wait(0, original);
  CHECK(cuda::host_wait(0) == original);
}

TEST_CASE("cuda runtime: a bad device index is a cortex::Error naming the device") {
  CHECK_THROWS_AS(cuda::set_device(cuda::device_count() + 3), Error);
  CHECK_THROWS_AS(cuda::default_stream(-1), Error);
}

CORTEX_GPU_TEST("cuda runtime: CORTEX_CUDA_CHECK reports a failing call") {
  void* p = nullptr;
  try {
    CORTEX_CUDA_CHECK(cudaMalloc(&p, size_t(1) << 50));
    FAIL("no throw");
  } catch (const Error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("cudaMalloc(&p, size_t(1) << 50)") != std::string::npos);
    CHECK(msg.find("test_runtime.cpp") != std::string::npos);
    CHECK(msg.find("cudaErrorMemoryAllocation") != std::string::npos);
  }
  // The failure was cleared: later calls succeed.
  CHECK(cudaGetLastError() == cudaSuccess);
  CHECK_NOTHROW(CORTEX_CUDA_CHECK(cudaDeviceSynchronize()));
}

CORTEX_GPU_TEST("cuda runtime: the default current stream is a non-blocking per-device stream") {
  cudaStream_t s = cuda::current_stream();
  CHECK(s != nullptr);
  CHECK(s == cuda::default_stream(cuda::current_device()));
  unsigned flags = 0;
  REQUIRE(cudaStreamGetFlags(s, &flags) == cudaSuccess);
  CHECK((flags & cudaStreamNonBlocking) != 0);
  CHECK(cuda::multiprocessor_count(0) > 0);
}

CORTEX_GPU_TEST("cuda runtime: StreamGuard sets the current stream per thread and restores it") {
  const cudaStream_t original = cuda::current_stream();
  cuda::Stream side;
  {
    cuda::StreamGuard guard(side);
    CHECK(cuda::current_stream() == side.get());
    cudaStream_t seen_by_other_thread = nullptr;
    std::thread t([&] { seen_by_other_thread = cuda::current_stream(0); });
    t.join();
    CHECK(seen_by_other_thread == cuda::default_stream(0));
    // Work goes to the current stream: a tensor filled under the guard is complete once `side` is.
    Tensor x = full({1000}, 3.5, DType::f32, gpu());
    side.synchronize();
    CHECK(side.query());
    CHECK(x.to_vector<float>()[999] == 3.5f);
  }
  CHECK(cuda::current_stream() == original);
}

CORTEX_GPU_TEST("cuda runtime: events order streams and time work") {
  cuda::Stream producer, consumer;
  Tensor src = random({1 << 20}, 7, DType::f32, gpu());
  Tensor dst = full({1 << 20}, -1.0, DType::f32, gpu());
  cuda::stream_wait_stream(producer, cuda::current_stream());
  cuda::Event start(true), stop(true), ready;
  start.record(producer);
  {
    cuda::StreamGuard guard(producer);
    for (int i = 0; i < 20; ++i) copy_(dst, src);
    cuda::record_stream(dst, producer);
    cuda::record_stream(src, producer);
  }
  stop.record(producer);
  ready.record(producer);
  consumer.wait(ready);
  Tensor check;
  {
    cuda::StreamGuard guard(consumer);
    check = contiguous_copy(dst);  // ordered after the producer's copies by the event
    cuda::record_stream(dst, consumer);
  }
  consumer.synchronize();
  CHECK(ready.query());
  CHECK(stop.elapsed_ms(stop) == 0.0f);
  CHECK(start.elapsed_ms(stop) > 0.0f);
  cuda::StreamGuard guard(consumer);
  CHECK(values(check) == values(src));
}

#endif  // CORTEX_WITH_CUDA
