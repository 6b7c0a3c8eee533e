#pragma once
// Warp-level tensor-core building blocks (sm_80 and later) with the fragment layouts spelled
// out, for kernels that keep MMA results in registers and work on them there (WMMA's
// accumulator layout is opaque, so a softmax over its scores has to go through shared memory).
//
// mma.sync m16n8k16, 16-bit inputs, f32 accumulators. In a warp, lane = 4 * group + quad
// (group 0..7, quad 0..3):
//   A (16 x 16, row-major) a[0..3]: rows group / group + 8, columns 2 quad, 2 quad + 1
//       (a[0] rows group, a[1] rows group + 8, a[2] and a[3] the same 8 columns further on);
//   B (16 x 8) b[0..1]: rows (the k index) 2 quad, 2 quad + 1 (b[1]: + 8), column group;
//   C (16 x 8) c[0..3]: c[0], c[1] row group, columns 2 quad, 2 quad + 1; c[2], c[3] row group + 8.
// The C layout of two adjacent n-tiles is the A layout of one k-step, which lets P = softmax(S)
// feed P V without leaving registers.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

namespace cortex::cuda::mma {

// Two 16-bit values in one register, the first in the low half (the MMA operand packing).
__device__ __forceinline__ uint32_t pack(float lo, float hi, __nv_bfloat16*) {
  const __nv_bfloat162 v = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}
__device__ __forceinline__ uint32_t pack(float lo, float hi, __half*) {
  const __half2 v = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<const uint32_t*>(&v);
}

// D += A B for one 16 x 8 tile.
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1,
                                          __nv_bfloat16*) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1, __half*) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ uint32_t shared_address(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// Four 8 x 8 matrices of 16-bit values from shared memory; lanes 8i..8i+7 give the row
// addresses of matrix i, and lane (group, quad) receives row group, columns 2 quad, 2 quad + 1
// of matrix i in r[i] (with `transposed`, column group, rows 2 quad, 2 quad + 1).
__device__ __forceinline__ void load_matrix_x4(uint32_t (&r)[4], const void* row_address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row_address)));
}
__device__ __forceinline__ void load_matrix_x4_transposed(uint32_t (&r)[4], const void* row_address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(shared_address(row_address)));
}

// Asynchronous 16-byte global -> shared copy; `valid` false writes zeros instead of reading.
__device__ __forceinline__ void copy_async_16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address(dst)), "l"(src),
               "r"(valid ? 16 : 0));
}
__device__ __forceinline__ void copy_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
// Waits until at most `Pending` committed groups of this thread are still in flight.
template <int Pending>
__device__ __forceinline__ void copy_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(Pending));
}

}  // namespace cortex::cuda::mma
