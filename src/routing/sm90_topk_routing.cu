// Top-k routing for every RoutingMethod: router logits [M, E] (fp32 or bf16, read natively) ->
// distinct expert ids int32 [M, k] and fp32 weights [M, k], optionally a copy of the ids as int16 or
// int32 (routed-experts capture). docs/NUMERICS.md ("Routing") and src/reference/routing.cpp define
// the result; this kernel computes the same function in fp32.
//
// Layout and work split:
//  * One warp per token, 4 tokens per 128-thread block; grid = ceil(M / 4) (M and config only).
//  * Lane l holds experts [l * VPT, (l + 1) * VPT) in registers, VPT = the smallest power of two
//    with 32 * VPT >= E (1 .. 32), loaded as 16-byte vectors when the row allows it. Lanes past E
//    hold nothing.
//  * Each value becomes a 32-bit ordered key (float bits flipped so unsigned order = float order);
//    0 means "taken or absent". A selection round is one redux.sync max over the keys, then one
//    redux.sync min over the candidate ids holding that key: ties go to the lower expert id.
//    k rounds give k distinct ids; round r's id stays in lane r.
//  * Grouped top-k (n_group > 1): when a group spans whole lanes (DeepSeek-V3: 4 lanes of 8), each
//    lane's top-2 keys are merged across the group's lanes with butterflies; otherwise the warp
//    writes its float keys to shared memory and lane g scores groups g, g + 32, ... Either way a
//    group scores the sum of its top-2 keys, topk_group rounds of the same max/min pick the kept
//    groups, and experts outside them become ineligible. Ineligible experts are taken only
//    when the eligible ones run out (never, for a validated config), exactly like the reference.
//
// NaN policy (the contract): a NaN logit ranks as -inf, +inf is clamped to FLT_MAX, -0 ranks as +0;
// an all -inf row gives the k lowest ids with weight 0. Nothing here can produce a duplicate or
// out-of-range id: every round removes the id it returns, and ids only come from lanes < E.
//
// NOTES:
//  * Methods whose score is a monotone function of the logit (softmax, sigmoid) rank the sanitized
//    fp32 logit itself, so their ids are bitwise those of the reference. The grouped method ranks
//    sigmoid(x) + correction_bias computed in fp32: near-ties may differ from the double reference.
//  * Weights are computed by lanes < k after selection (one value per lane; the grouped method
//    takes the unbiased logit from the owning lane with a shuffle) and reduced with fixed
//    butterflies: deterministic. Biases are loaded with the logits, before any arithmetic.
//  * Measured (docs/PERF.md): a decode-sized call is latency-bound on the k serial select rounds
//    (~3 us Qwen3, ~5.7 us DeepSeek-V3 per call in a graph on H100); large M runs ~15x torch.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "core/load_scalar.cuh"
#include "routing/routing_kernels.h"

namespace fusedmoe::cuda {
namespace {

constexpr int kWarpSize = 32;
constexpr int kWarpsPerBlock = 4;
constexpr int kThreadsPerBlock = kWarpSize * kWarpsPerBlock;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr float kSigmoidRenormEpsilon = 1e-20f;

__device__ __forceinline__ float sanitize(float value) {
  if (isnan(value)) return -INFINITY;
  if (value > FLT_MAX) return FLT_MAX;
  return value == 0.0f ? 0.0f : value;  // -0 -> +0: equal values must tie (and go by id)
}

// Unsigned order of the key = float order; every real value (even -inf) maps above 0, which is
// reserved for "taken / absent".
__device__ __forceinline__ uint32_t rank_key(float value) {
  const uint32_t bits = __float_as_uint(value == 0.0f ? 0.0f : value);
  return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
}

__device__ __forceinline__ float key_value(uint32_t key) {
  return __uint_as_float((key & 0x80000000u) ? (key & 0x7fffffffu) : ~key);
}

__device__ __forceinline__ float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

__device__ __forceinline__ float to_float(float value) { return value; }
__device__ __forceinline__ float to_float(__nv_bfloat16 value) { return __bfloat162float(value); }

__device__ __forceinline__ float warp_sum(float value) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) value += __shfl_xor_sync(kFullMask, value, offset);
  return value;
}

// Loads VPT consecutive logits starting at `source` (in bounds), as wide as the alignment allows.
template <typename T, int VPT>
__device__ __forceinline__ void load_run(const T* source, float (&values)[VPT]) {
  constexpr int kBytes = VPT * static_cast<int>(sizeof(T));
  const uintptr_t address = reinterpret_cast<uintptr_t>(source);
  if constexpr (kBytes % 16 == 0) {
    if (address % 16 == 0) {
      constexpr int kPerVector = 16 / sizeof(T);
#pragma unroll
      for (int v = 0; v < VPT / kPerVector; ++v) {
        const uint4 raw = __ldg(reinterpret_cast<const uint4*>(source) + v);
        const T* elements = reinterpret_cast<const T*>(&raw);
#pragma unroll
        for (int i = 0; i < kPerVector; ++i) values[v * kPerVector + i] = to_float(elements[i]);
      }
      return;
    }
  }
#pragma unroll
  for (int j = 0; j < VPT; ++j) values[j] = to_float(source[j]);
}

// The logit an expert is ranked (and weighed) by: raw + logits_bias in fp32, sanitized.
__device__ __forceinline__ float sanitized_logit(float raw, bool has_bias, float bias) {
  return sanitize(has_bias ? raw + bias : raw);
}

__device__ __forceinline__ float grouped_key(float logit, bool has_bias, float correction) {
  if (logit == -INFINITY) return -INFINITY;  // NaN / -inf logits rank lowest whatever the bias
  const float score = sigmoid(logit);
  return sanitize(has_bias ? score + correction : score);
}

// VPT consecutive entries of an optional [E] bias (fp32 or bf16) for the lane's experts; zeros
// when absent. Loaded with the logits, so no second memory round trip waits on them.
template <int VPT>
__device__ __forceinline__ void load_bias_run(const void* bias, bool is_bf16, int first,
                                              int num_experts, float (&values)[VPT]) {
  if (bias == nullptr) {
#pragma unroll
    for (int j = 0; j < VPT; ++j) values[j] = 0.0f;
  } else if (first + VPT <= num_experts) {
    if (is_bf16) {
      load_run<__nv_bfloat16, VPT>(static_cast<const __nv_bfloat16*>(bias) + first, values);
    } else {
      load_run<float, VPT>(static_cast<const float*>(bias) + first, values);
    }
  } else {
#pragma unroll
    for (int j = 0; j < VPT; ++j) {
      values[j] = first + j < num_experts ? load_scalar(bias, is_bf16, first + j) : 0.0f;
    }
  }
}

// Marks the experts outside the topk_group best groups ineligible (bit j of the returned mask set
// = lane's j-th expert eligible). Uses this warp's slice of dynamic shared memory.
template <int VPT>
__device__ uint32_t kept_group_mask(const uint32_t (&keys)[VPT], const TopKRoutingParams& p,
                                    unsigned char* warp_smem, int lane, uint32_t valid_mask) {
  const int num_experts = p.num_experts;
  const int n_group = p.n_group;
  const int group_size = num_experts / n_group;
  float* expert_keys = reinterpret_cast<float*>(warp_smem);
  uint32_t* group_keys = reinterpret_cast<uint32_t*>(expert_keys + num_experts);
  unsigned char* group_kept = reinterpret_cast<unsigned char*>(group_keys + n_group);

  const int first = lane * VPT;
#pragma unroll
  for (int j = 0; j < VPT; ++j) {
    if ((valid_mask >> j) & 1u) expert_keys[first + j] = key_value(keys[j]);
  }
  __syncwarp();
  for (int g = lane; g < n_group; g += kWarpSize) {
    float best = -INFINITY;
    float second = -INFINITY;
    const float* members = expert_keys + g * group_size;
    for (int m = 0; m < group_size; ++m) {
      const float value = members[m];
      if (value > best) {
        second = best;
        best = value;
      } else if (value > second) {
        second = value;
      }
    }
    group_keys[g] = rank_key(group_size >= 2 ? best + second : best);
    group_kept[g] = 0;
  }
  __syncwarp();
  for (int round = 0; round < p.topk_group; ++round) {
    uint32_t local = 0;
    for (int g = lane; g < n_group; g += kWarpSize) local = max(local, group_keys[g]);
    const uint32_t best = __reduce_max_sync(kFullMask, local);
    uint32_t candidate = 0xffffffffu;
    for (int g = lane; g < n_group; g += kWarpSize) {
      if (best != 0 && group_keys[g] == best) {
        candidate = static_cast<uint32_t>(g);
        break;
      }
    }
    const uint32_t chosen = __reduce_min_sync(kFullMask, candidate);
    __syncwarp();
    if (lane == static_cast<int>(chosen % kWarpSize)) {
      group_keys[chosen] = 0;
      group_kept[chosen] = 1;
    }
    __syncwarp();
  }
  uint32_t eligible = 0;
#pragma unroll
  for (int j = 0; j < VPT; ++j) {
    if (((valid_mask >> j) & 1u) && group_kept[(first + j) / group_size]) eligible |= 1u << j;
  }
  __syncwarp();
  return eligible;
}

// The same result as kept_group_mask when a group spans whole lanes (group_size a multiple of VPT,
// group_size / VPT a power of two): each lane's top-2, merged across the group's lanes with
// butterflies, then topk_group max/min rounds over the groups' lead lanes. Registers only.
template <int VPT>
__device__ uint32_t kept_group_mask_lanes(const uint32_t (&keys)[VPT], const TopKRoutingParams& p,
                                          int lane, uint32_t valid_mask, int lanes_per_group) {
  float best = -INFINITY;
  float second = -INFINITY;
#pragma unroll
  for (int j = 0; j < VPT; ++j) {
    if (!((valid_mask >> j) & 1u)) continue;
    const float value = key_value(keys[j]);
    if (value > best) {
      second = best;
      best = value;
    } else if (value > second) {
      second = value;
    }
  }
  for (int offset = 1; offset < lanes_per_group; offset <<= 1) {
    const float other_best = __shfl_xor_sync(kFullMask, best, offset);
    const float other_second = __shfl_xor_sync(kFullMask, second, offset);
    second = fmaxf(fminf(best, other_best), fmaxf(second, other_second));
    best = fmaxf(best, other_best);
  }
  const int group_size = p.num_experts / p.n_group;
  const uint32_t group = static_cast<uint32_t>(lane / lanes_per_group);
  const bool leads_group = lane % lanes_per_group == 0 && static_cast<int>(group) < p.n_group;
  uint32_t group_key = leads_group ? rank_key(group_size >= 2 ? best + second : best) : 0u;
  bool kept = false;
  for (int round = 0; round < p.topk_group; ++round) {
    const uint32_t top = __reduce_max_sync(kFullMask, group_key);
    const uint32_t candidate = (top != 0 && group_key == top) ? group : 0xffffffffu;
    const uint32_t chosen = __reduce_min_sync(kFullMask, candidate);
    if (group == chosen) {
      kept = true;
      group_key = 0;
    }
  }
  return kept ? valid_mask : 0u;
}

template <typename T, int VPT>
__global__ void __launch_bounds__(kThreadsPerBlock)
    topk_routing_kernel(const TopKRoutingParams p) {
  extern __shared__ __align__(16) unsigned char group_smem[];
  wait_for_previous_grid();
  allow_next_grid();
  const int warp = threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int64_t token = static_cast<int64_t>(blockIdx.x) * kWarpsPerBlock + warp;
  if (token >= p.num_tokens) return;  // whole warp leaves together

  const int num_experts = p.num_experts;
  const int first = lane * VPT;
  const T* row = static_cast<const T*>(p.logits) + token * p.logits_row_stride;
  const bool grouped = p.method == RoutingMethod::kSigmoidGroupedTopK;

  float raw[VPT];
  if (first + VPT <= num_experts) {
    load_run<T, VPT>(row + first, raw);
  } else {
#pragma unroll
    for (int j = 0; j < VPT; ++j) raw[j] = first + j < num_experts ? to_float(row[first + j]) : 0.0f;
  }
  float logits_bias[VPT];
  float correction[VPT];
  load_bias_run<VPT>(p.logits_bias, p.logits_bias_bf16, first, num_experts, logits_bias);
  load_bias_run<VPT>(grouped ? p.correction_bias : nullptr, p.correction_bias_bf16, first,
                     num_experts, correction);
  const bool has_logits_bias = p.logits_bias != nullptr;
  const bool has_correction = p.correction_bias != nullptr;

  uint32_t keys[VPT];
  float logits[VPT];  // grouped: the weight is sigmoid(logit), not the (biased) key
  uint32_t valid_mask = 0;
#pragma unroll
  for (int j = 0; j < VPT; ++j) {
    const int expert = first + j;
    logits[j] = -INFINITY;
    if (expert < num_experts) {
      const float logit = sanitized_logit(raw[j], has_logits_bias, logits_bias[j]);
      logits[j] = logit;
      keys[j] = rank_key(grouped ? grouped_key(logit, has_correction, correction[j]) : logit);
      valid_mask |= 1u << j;
    } else {
      keys[j] = 0;
    }
  }

  // Softmax over all experts needs the row max and the row sum before selection removes keys.
  float row_max = -INFINITY;
  float row_total = 0.0f;
  if (p.method == RoutingMethod::kSoftmaxTopK) {
    uint32_t local = 0;
#pragma unroll
    for (int j = 0; j < VPT; ++j) local = max(local, keys[j]);
    row_max = key_value(__reduce_max_sync(kFullMask, local));
    if (row_max != -INFINITY) {
      float partial = 0.0f;
#pragma unroll
      for (int j = 0; j < VPT; ++j) {
        if ((valid_mask >> j) & 1u) partial += expf(key_value(keys[j]) - row_max);
      }
      row_total = warp_sum(partial);
    }
  }

  uint32_t eligible = valid_mask;
  if (grouped && p.n_group > 1) {
    const int group_size = num_experts / p.n_group;
    const int lanes_per_group = group_size / VPT;
    if (group_size % VPT == 0 && (lanes_per_group & (lanes_per_group - 1)) == 0) {
      eligible = kept_group_mask_lanes<VPT>(keys, p, lane, valid_mask, lanes_per_group);
    } else {
      const size_t warp_bytes = (static_cast<size_t>(num_experts) + 2 * p.n_group) * 4;
      eligible = kept_group_mask<VPT>(keys, p, group_smem + warp * warp_bytes, lane, valid_mask);
    }
  }

  int selected_id = 0;
  float selected_logit = -INFINITY;
  for (int round = 0; round < p.top_k; ++round) {
    uint32_t local = 0;
#pragma unroll
    for (int j = 0; j < VPT; ++j) local = max(local, ((eligible >> j) & 1u) ? keys[j] : 0u);
    uint32_t best = __reduce_max_sync(kFullMask, local);
    const bool from_ineligible = best == 0;  // warp-uniform; unreachable for validated configs
    if (from_ineligible) {
      local = 0;
#pragma unroll
      for (int j = 0; j < VPT; ++j) local = max(local, keys[j]);
      best = __reduce_max_sync(kFullMask, local);
    }
    uint32_t candidate = 0xffffffffu;
#pragma unroll
    for (int j = VPT - 1; j >= 0; --j) {
      const bool allowed = from_ineligible || ((eligible >> j) & 1u);
      if (allowed && keys[j] == best && best != 0) candidate = static_cast<uint32_t>(first + j);
    }
    const uint32_t id = __reduce_min_sync(kFullMask, candidate);
    float owned_logit = 0.0f;
#pragma unroll
    for (int j = 0; j < VPT; ++j) {
      if (static_cast<uint32_t>(first + j) == id) {
        keys[j] = 0;
        owned_logit = logits[j];
      }
    }
    // Non-grouped methods rank the sanitized logit itself, so the winning key is the logit; the
    // grouped method takes it from the owning lane (no dependent reload from memory).
    const float logit =
        grouped ? __shfl_sync(kFullMask, owned_logit, static_cast<int>(id / VPT) % kWarpSize)
                : key_value(best);
    if (lane == round) {
      selected_id = static_cast<int>(id);
      selected_logit = logit;
    }
  }

  const int top_k = p.top_k;
  const bool holds_selection = lane < top_k;
  const float logit = selected_logit;

  float weight = 0.0f;
  switch (p.method) {
    case RoutingMethod::kSoftmaxTopK: {
      if (row_max != -INFINITY && holds_selection) weight = expf(logit - row_max) / row_total;
      if (p.renormalize && row_max != -INFINITY) {
        const float selected_total = warp_sum(holds_selection ? weight : 0.0f);
        weight = weight / selected_total;  // > 0: the row max is selected with p >= 1/E
      }
      break;
    }
    case RoutingMethod::kTopKSoftmax: {
      const float selected_max = __shfl_sync(kFullMask, logit, 0);
      if (selected_max != -INFINITY) {
        if (holds_selection) weight = expf(logit - selected_max);
        const float selected_total = warp_sum(holds_selection ? weight : 0.0f);
        weight = weight / selected_total;  // >= 1: the max contributes exp(0)
      }
      break;
    }
    case RoutingMethod::kSigmoidGroupedTopK:
    case RoutingMethod::kSigmoidTopK: {
      if (holds_selection) weight = sigmoid(logit);
      if (p.renormalize) {
        const float selected_total = warp_sum(holds_selection ? weight : 0.0f);
        weight = weight / (selected_total + kSigmoidRenormEpsilon);
      }
      break;
    }
    case RoutingMethod::kLlama4Top1Sigmoid: {
      if (holds_selection) weight = sigmoid(logit);
      break;
    }
  }

  if (holds_selection) {
    p.topk_ids[token * p.ids_row_stride + lane] = selected_id;
    p.topk_weights[token * p.weights_row_stride + lane] = weight;
    if (p.routed_experts_out != nullptr) {
      const int64_t index = token * p.routed_experts_row_stride + lane;
      if (p.routed_experts_int16) {
        static_cast<int16_t*>(p.routed_experts_out)[index] = static_cast<int16_t>(selected_id);
      } else {
        static_cast<int32_t*>(p.routed_experts_out)[index] = selected_id;
      }
    }
  }
}

template <typename T, int VPT>
void launch_with(const TopKRoutingParams& params, cudaStream_t stream) {
  const unsigned blocks =
      static_cast<unsigned>(ceil_div(params.num_tokens, static_cast<int64_t>(kWarpsPerBlock)));
  size_t smem = 0;
  if (params.method == RoutingMethod::kSigmoidGroupedTopK && params.n_group > 1) {
    // Per warp: float expert keys [E], uint32 group keys [n_group], kept flags [n_group] (padded).
    smem = kWarpsPerBlock * (static_cast<size_t>(params.num_experts) + 2 * params.n_group) * 4;
  }
  launch_kernel("topk_routing_kernel", topk_routing_kernel<T, VPT>, dim3(blocks),
                dim3(kThreadsPerBlock), smem, stream, params);
}

template <typename T>
void launch_for_dtype(const TopKRoutingParams& params, cudaStream_t stream) {
  const int per_lane = static_cast<int>(ceil_div(params.num_experts, kWarpSize));
  if (per_lane <= 1) return launch_with<T, 1>(params, stream);
  if (per_lane <= 2) return launch_with<T, 2>(params, stream);
  if (per_lane <= 4) return launch_with<T, 4>(params, stream);
  if (per_lane <= 8) return launch_with<T, 8>(params, stream);
  if (per_lane <= 16) return launch_with<T, 16>(params, stream);
  return launch_with<T, 32>(params, stream);
}

}  // namespace

bool topk_routing_supports(int32_t num_experts, int32_t top_k) {
  return num_experts >= 1 && num_experts <= 32 * kWarpSize && top_k >= 1 && top_k <= kWarpSize &&
         top_k <= num_experts;
}

void launch_topk_routing(const TopKRoutingParams& params, cudaStream_t stream) {
  if (params.num_tokens == 0) return;
  if (params.logits_bf16) {
    launch_for_dtype<__nv_bfloat16>(params, stream);
  } else {
    launch_for_dtype<float>(params, stream);
  }
}

}  // namespace fusedmoe::cuda
