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
//  * The per-token selection itself lives in routing/topk_select.cuh (shared with the small-batch
//    route-and-maps kernel in src/dispatch).
#include <cuda_runtime.h>

#include <cstdint>

#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "routing/routing_kernels.h"
#include "routing/topk_select.cuh"

namespace fusedmoe::cuda {
namespace {

using routing_detail::kWarpSize;
constexpr int kWarpsPerBlock = 4;
constexpr int kThreadsPerBlock = kWarpSize * kWarpsPerBlock;

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
  unsigned char* warp_smem =
      group_smem + warp * routing_detail::routing_group_smem_bytes_per_warp(p);
  routing_detail::route_token<T, VPT>(p, token, warp_smem, lane);
}

template <typename T, int VPT>
void launch_with(const TopKRoutingParams& params, cudaStream_t stream) {
  const unsigned blocks =
      static_cast<unsigned>(ceil_div(params.num_tokens, static_cast<int64_t>(kWarpsPerBlock)));
  const size_t smem =
      kWarpsPerBlock * routing_detail::routing_group_smem_bytes_per_warp(params);
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
