// CUDA index_add_kernel (the embedding backward), deterministic: the picks are sorted by
// destination with a stable radix sort (CUB, part of the CUDA toolkit), so each group of
// equal indices lists its sources in index order. One thread per (group, position outside
// dim) then adds the group's sources to the destination in that order, the same arithmetic
// as the CPU kernel, so the result is bit-identical to it and to any other run.
#include <cub/device/device_radix_sort.cuh>

#include "cuda/kernels/launch.cuh"
#include "cuda/kernels/strided_indexer.cuh"
#include "engine/factory.h"
#include "ops/kernels.h"

namespace cortex::cuda {
namespace {

template <typename I>
__global__ void index_keys_kernel(const I* idx, int64_t stride, int32_t n, int32_t* keys, int32_t* order) {
  for (int32_t k = blockIdx.x * blockDim.x + threadIdx.x; k < n; k += gridDim.x * blockDim.x) {
    keys[k] = static_cast<int32_t>(idx[k * stride]);
    order[k] = k;
  }
}

template <typename T>
using sum_t = std::conditional_t<std::is_floating_point_v<compute_t<T>>, compute_t<T>, int64_t>;

// rest: positions outside dim, operand 0 = out, 1 = src. Thread t handles sorted pick
// p = t / Q at position q = t % Q, and only if p starts a group.
template <typename T>
__global__ void index_add_groups_kernel(T* out, const T* src, const int32_t* keys, const int32_t* order, int32_t picks,
                                        StridedIndexer<2> rest, int64_t positions, int64_t out_step, int64_t src_step) {
  using A = sum_t<T>;
  const int64_t total = int64_t{picks} * positions;
  for (int64_t t = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total;
       t += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int32_t p = static_cast<int32_t>(t / positions);
    const int32_t key = keys[p];
    if (p > 0 && keys[p - 1] == key) continue;
    int64_t off[2];
    rest.offsets(t - int64_t{p} * positions, off);
    T* dst = out + off[0] + key * out_step;
    A acc = convert<A>(*dst);
    for (int32_t k = p; k < picks && keys[k] == key; ++k) acc += convert<A>(src[off[1] + order[k] * src_step]);
    *dst = convert<T>(acc);
  }
}

int bits_for(int64_t max_value) {
  int bits = 1;
  while (bits < 31 && (int64_t{1} << bits) <= max_value) ++bits;
  return bits;
}

void cuda_index_add(const Tensor& out, int64_t dim, const Tensor& idx, const Tensor& src) {
  DeviceScope scope(out);
  const int64_t picks = idx.numel();
  if (picks == 0 || out.numel() == 0) return;
  CORTEX_CHECK(picks < (int64_t{1} << 31) && out.size(dim) < (int64_t{1} << 31), "index_add",
               "the CUDA kernel handles fewer than 2^31 indices and destinations, got ", picks, " indices into ",
               out.describe());
  const int32_t n = static_cast<int32_t>(picks);
  cudaStream_t stream = current_stream();

  // keys, order, sorted keys, sorted order: one i32 buffer; CUB's scratch after it.
  const int key_bits = bits_for(out.size(dim) - 1);
  size_t scratch_bytes = 0;
  CORTEX_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, scratch_bytes, static_cast<const int32_t*>(nullptr),
                                                    static_cast<int32_t*>(nullptr), static_cast<const int32_t*>(nullptr),
                                                    static_cast<int32_t*>(nullptr), n, 0, key_bits, stream));
  const int64_t ints = 4 * picks;
  const int64_t scratch_ints = ceil_div(static_cast<int64_t>(scratch_bytes), 4) + 64;  // + room to align
  Tensor work = empty({ints + scratch_ints}, DType::i32, out.device());
  int32_t* keys = static_cast<int32_t*>(work.data_ptr());
  int32_t *order = keys + picks, *sorted_keys = order + picks, *sorted_order = sorted_keys + picks;
  void* scratch = reinterpret_cast<void*>((reinterpret_cast<uintptr_t>(sorted_order + picks) + 255) & ~uintptr_t{255});

  const unsigned grid = grid_for(picks, 256, 256);
  visit_index(idx.dtype(), "index_add", [&](auto itag) {
    using I = typename decltype(itag)::type;
    index_keys_kernel<I><<<grid, 256, 0, stream>>>(static_cast<const I*>(idx.data_ptr()),
                                                   idx.dim() == 0 ? 0 : idx.stride(0), n, keys, order);
  });
  CORTEX_CUDA_CHECK_LAUNCH("index_add (keys)");
  CORTEX_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(scratch, scratch_bytes, keys, sorted_keys, order, sorted_order, n,
                                                    0, key_bits, stream));

  // Positions outside dim, shared by out and src.
  Shape rest_shape, out_strides, src_strides;
  for (int64_t d = 0; d < out.dim(); ++d) {
    if (d == dim) continue;
    rest_shape.push_back(out.size(d));
    out_strides.push_back(out.stride(d));
    src_strides.push_back(src.stride(d));
  }
  const StridedPlan<2> plan(rest_shape, {&out_strides, &src_strides});
  const int64_t positions = shape_numel(rest_shape);
  const int64_t out_step = out.stride(dim), src_step = src.stride(dim);
  visit_dtype(out.dtype(), "index_add", [&](auto tag) {
    using T = typename decltype(tag)::type;
    for_each_indexer<2>(plan, [&](const StridedIndexer<2>& rest, int64_t count) {
      index_add_groups_kernel<T><<<grid_for(picks * count, 256, 256), 256, 0, stream>>>(
          static_cast<T*>(out.data_ptr()), static_cast<const T*>(src.data_ptr()), sorted_keys, sorted_order, n, rest,
          count, out_step, src_step);
      CORTEX_CUDA_CHECK_LAUNCH("index_add");
    });
  });
}

}  // namespace

CORTEX_REGISTER_KERNEL(index_add_kernel, CUDA, cuda_index_add);

}  // namespace cortex::cuda
