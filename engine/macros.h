#pragma once
// Host/device annotations so that small numeric helpers (dtype conversion, Philox) are
// shared verbatim between the CPU reference kernels and the CUDA kernels.
#if defined(__CUDACC__)
#define CORTEX_HD __host__ __device__ __forceinline__
#else
#define CORTEX_HD inline
#endif

#define CORTEX_CONCAT_IMPL(a, b) a##b
#define CORTEX_CONCAT(a, b) CORTEX_CONCAT_IMPL(a, b)
