#pragma once
// The flash kernel of dense_attention.cu for segmented_attention_device_offsets, the serving
// graphs' encoder attention (each sample's latents against its own events): tensor cores and
// streamed key tiles instead of the scalar segmented kernel, where the shapes allow it.
#include "engine/tensor.h"

namespace cortex::cuda {

// Below this many queries per sample most of a 64-query tile would be padding (the behaviour
// head's one query per sample): the segmented kernel stays faster there.
constexpr int64_t kFlashSegmentedMinQueries = 32;

// Off with CORTEX_FLASH_SEGMENTED=0 in the environment (read once), for comparisons.
bool flash_segmented_enabled();

// Whether the flash kernel takes segmented_attention_device_offsets' operands: q and out
// [B * Lq, H, D], k and v [Nk, H, D], all contiguous, one 16-bit dtype (bf16 or f16), 16-byte
// aligned, D one of 32, 64, 128, Lq >= kFlashSegmentedMinQueries, B and H from 1 to 65535,
// fewer than 2^31 - 64 rows; offsets i32 or i64 [B + 1]. Otherwise the segmented kernel runs.
bool flash_segmented_fits(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& k_offsets,
                          const Tensor& out);

// segmented_attention_device_offsets on the flash kernel (same contract: offsets i32/i64 on
// the device, clamped into [0, Nk]; a sample without keys gets zeros); needs flash_segmented_fits.
void flash_segmented_attention(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& k_offsets,
                               double scale, const Tensor& out);

}  // namespace cortex::cuda
