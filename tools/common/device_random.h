// Seeded random tensors generated on the GPU, so a benchmark layer of any size (DeepSeek-V3's
// 22.5 GB of bf16 experts) is filled in milliseconds instead of the minutes the host generator
// (random_layer.h) would take.
//
// Counter-based: element i of a tensor is a pure function of (seed, tensor id, i). The value
// does not depend on the launch shape, the device or which other tensors were filled, and the
// host can recompute any element (counter_normal below is the same code on both sides).
//   pair j   = splitmix64 output j of the stream keyed by (seed, tensor id)  (64 random bits)
//   elements 2j, 2j+1 = Box-Muller of the pair's two 32-bit halves: r·cos θ, r·sin θ
// The high half is offset by one half so the logarithm's argument is never 0: values are finite
// and a zero is as rare as with any normal generator (bf16 underflow aside, never in practice).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/host_device.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::tools {

FUSEDMOE_HOST_DEVICE inline uint64_t random_mix64(uint64_t value) {
  value = (value ^ (value >> 30)) * 0xbf58476d1ce4e5b9ull;
  value = (value ^ (value >> 27)) * 0x94d049bb133111ebull;
  return value ^ (value >> 31);
}

// The key of one tensor's stream. Distinct tensor ids give unrelated streams for one seed.
FUSEDMOE_HOST_DEVICE inline uint64_t random_stream_key(uint64_t seed, uint64_t tensor_id) {
  return random_mix64(random_mix64(seed + 0x9e3779b97f4a7c15ull) ^
                      (tensor_id * 0xd1b54a32d192ed03ull + 0x632be59bd9b4e019ull));
}

// Standard normal values 2·pair and 2·pair + 1 of the stream `key`.
FUSEDMOE_HOST_DEVICE inline void counter_normal_pair(uint64_t key, uint64_t pair, float& even,
                                                     float& odd) {
  const uint64_t bits = random_mix64(key + (pair + 1) * 0x9e3779b97f4a7c15ull);
  const float u1 = (static_cast<float>(static_cast<uint32_t>(bits >> 40)) + 0.5f) * 0x1.0p-24f;
  const float u2 = static_cast<float>(static_cast<uint32_t>(bits) >> 8) * 0x1.0p-24f;
  const float radius = sqrtf(-2.0f * logf(u1));
  const float angle = 6.28318530717958647692f * u2;
  even = radius * cosf(angle);
  odd = radius * sinf(angle);
}

// Standard normal value `index` of the stream `key` (host and device agree up to the rounding
// of their logf / sinf / cosf).
FUSEDMOE_HOST_DEVICE inline float counter_normal(uint64_t key, uint64_t index) {
  float even = 0.0f;
  float odd = 0.0f;
  counter_normal_pair(key, index / 2, even, odd);
  return (index & 1) ? odd : even;
}

// Fills a contiguous CUDA tensor (bf16 or fp32) with stddev · N(0, 1), enqueued on `stream`.
// Throws fusedmoe::Error naming `what` for another dtype, a host tensor or a non-contiguous one.
void fill_normal_on_device(const TensorView& tensor, const char* what, uint64_t seed,
                           uint64_t tensor_id, float stddev, Stream stream);

}  // namespace fusedmoe::tools
