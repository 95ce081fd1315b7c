// Routing + dispatch maps for decode batches in one single-block launch: router logits [M, E] ->
// topk_ids int32 / topk_weights fp32 [M, k] (+ optional capture), then expert_counts,
// expert_offsets (padded to row_alignment), slot_to_row [M, k] and row_to_slot of the token rows
// (and of every unused row when fill_rows > 0). Bitwise the result of the routing kernel followed
// by the single-tile maps kernel: both halves are the same device code
// (routing/topk_select.cuh, dispatch/single_tile_maps.cuh).
//
// Layout and work split:
//  * One block of kThreads = 1024 / 512 / 256 threads for VPT <= 8 / 16 / 32 (E <= 256 / 512 /
//    1024): fewer threads where the per-lane logit registers grow, so the 64K-register file
//    still holds them. Warp w routes tokens w, w + kWarps, ... (at most kMaxTokensPerWarp each).
//  * Dynamic shared memory is used twice: first the per-warp group scratch of the grouped method,
//    then (after __syncthreads) the per-warp expert counters of the maps [kWarps * E_l ints].
//  * The ids the maps read are the ones this block just wrote to topk_ids; __syncthreads makes
//    the block's global writes visible to the whole block, so no second launch is needed.
//
// NOTES: the point is one launch less on the decode path (~3 us in a graph on H100); the routing
// half runs up to kMaxTokensPerWarp tokens per warp serially, which is why larger M falls back to
// the grid-wide routing kernel.
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cub/block/block_scan.cuh>

#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "dispatch/route_and_maps_small.h"
#include "dispatch/single_tile_maps.cuh"
#include "routing/topk_select.cuh"

namespace fusedmoe::cuda {
namespace {

constexpr int kMaxTokensPerWarp = 4;
// Dynamic shared memory without an opt-in attribute, leaving room for the 8 KiB of static
// expert_total / first_row and the warp-scan storage under the 48 KiB default.
constexpr size_t kMaxDynamicSmemBytes = 36 * 1024;

int values_per_lane(int32_t num_experts) {
  const int per_lane = static_cast<int>(ceil_div(num_experts, routing_detail::kWarpSize));
  int vpt = 1;
  while (vpt < per_lane) vpt *= 2;
  return vpt;
}

constexpr int threads_for(int vpt) { return vpt <= 8 ? 1024 : vpt <= 16 ? 512 : 256; }

size_t dynamic_smem_bytes(const TopKRoutingParams& route, const DispatchMapsParams& maps,
                          int warps) {
  const size_t routing = warps * routing_detail::routing_group_smem_bytes_per_warp(route);
  const size_t counters = static_cast<size_t>(warps) * maps.local_experts * sizeof(int);
  return std::max(routing, counters);
}

template <typename T, int VPT, int kThreads>
__global__ void __launch_bounds__(kThreads)
    route_and_maps_small_kernel(const TopKRoutingParams route, const DispatchMapsParams maps) {
  constexpr int kWarps = kThreads / 32;
  using OffsetsScan = cub::BlockScan<int, kThreads, cub::BLOCK_SCAN_WARP_SCANS>;
  extern __shared__ __align__(16) unsigned char dynamic_smem[];
  __shared__ int expert_total[kMaxDispatchLocalExperts];
  __shared__ int first_row[kMaxDispatchLocalExperts];
  __shared__ typename OffsetsScan::TempStorage scan_storage;
  wait_for_previous_grid();
  allow_next_grid();

  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  unsigned char* warp_smem =
      dynamic_smem + warp * routing_detail::routing_group_smem_bytes_per_warp(route);
  for (int token = warp; token < route.num_tokens; token += kWarps) {  // warp-uniform loop
    routing_detail::route_token<T, VPT>(route, token, warp_smem, lane);
  }
  // Every id is in topk_ids (visible block-wide) and the group scratch is free for the counters.
  __syncthreads();
  dispatch_detail::build_single_tile_maps<kWarps, OffsetsScan>(
      maps, reinterpret_cast<int*>(dynamic_smem), expert_total, first_row, scan_storage);
}

template <typename T, int VPT>
void launch_with(const TopKRoutingParams& route, const DispatchMapsParams& maps,
                 cudaStream_t stream) {
  constexpr int kThreads = threads_for(VPT);
  launch_kernel("route_and_maps_small_kernel", route_and_maps_small_kernel<T, VPT, kThreads>,
                dim3(1), dim3(kThreads), dynamic_smem_bytes(route, maps, kThreads / 32), stream,
                route, maps);
}

template <typename T>
void launch_for_dtype(const TopKRoutingParams& route, const DispatchMapsParams& maps,
                      cudaStream_t stream) {
  switch (values_per_lane(route.num_experts)) {
    case 1: return launch_with<T, 1>(route, maps, stream);
    case 2: return launch_with<T, 2>(route, maps, stream);
    case 4: return launch_with<T, 4>(route, maps, stream);
    case 8: return launch_with<T, 8>(route, maps, stream);
    case 16: return launch_with<T, 16>(route, maps, stream);
    default: return launch_with<T, 32>(route, maps, stream);
  }
}

}  // namespace

bool route_and_maps_small_supports(const TopKRoutingParams& route, const DispatchMapsParams& maps) {
  const int warps = threads_for(values_per_lane(route.num_experts)) / 32;
  const int64_t slots = static_cast<int64_t>(route.num_tokens) * route.top_k;
  return route.num_tokens >= 1 && route.num_tokens <= warps * kMaxTokensPerWarp &&
         slots <= kTileSlots && maps.num_tokens == route.num_tokens &&
         maps.top_k == route.top_k && maps.topk_ids == route.topk_ids && !maps.ids_int64 &&
         maps.ids_row_stride == route.ids_row_stride && maps.local_experts >= 1 &&
         maps.local_experts <= kMaxDispatchLocalExperts &&
         dynamic_smem_bytes(route, maps, warps) <= kMaxDynamicSmemBytes;
}

void launch_route_and_maps_small(const TopKRoutingParams& route, const DispatchMapsParams& maps,
                                 cudaStream_t stream) {
  if (route.logits_bf16) {
    launch_for_dtype<__nv_bfloat16>(route, maps, stream);
  } else {
    launch_for_dtype<float>(route, maps, stream);
  }
}

}  // namespace fusedmoe::cuda
