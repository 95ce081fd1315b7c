// Third kernel of the multi-tile dispatch maps: each block re-ranks the slots of its tile stably
// (tile_ranking.cuh) and writes slot_to_row / row_to_slot, the row of a slot being
//   tile_counts[tile, e] (first row of expert e in this tile, from expert_offsets_scan)
//   + its rank among the tile's expert-e slots.
// Grid = ceil(M * top_k / kTileSlots); rows ordered by (local expert, token, slot) overall.
#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "dispatch/dispatch_kernels.h"
#include "dispatch/tile_ranking.cuh"

namespace fusedmoe::cuda {
namespace {

__global__ void __launch_bounds__(kDispatchThreads)
    dispatch_maps_scatter_kernel(const DispatchMapsParams p) {
  wait_for_previous_grid();
  allow_next_grid();
  __shared__ int warp_counts[kDispatchWarps * kMaxDispatchLocalExperts];
  __shared__ int expert_total[kMaxDispatchLocalExperts];
  const int64_t num_slots = static_cast<int64_t>(p.num_tokens) * p.top_k;
  const int64_t tile_begin = static_cast<int64_t>(blockIdx.x) * kTileSlots;
  dispatch_detail::TileSlots slots;
  dispatch_detail::rank_tile_slots(p, tile_begin, kChunksPerWarp, num_slots, warp_counts,
                                   expert_total, slots);
  const int* tile_first_row = p.tile_counts + static_cast<int64_t>(blockIdx.x) * p.local_experts;
  dispatch_detail::write_tile_maps(p, tile_begin, kChunksPerWarp, num_slots, tile_first_row, slots);
}

}  // namespace

void launch_dispatch_maps_scatter(const DispatchMapsParams& params, cudaStream_t stream) {
  const int64_t tiles = dispatch_num_tiles(static_cast<int64_t>(params.num_tokens) * params.top_k);
  launch_kernel("dispatch_maps_scatter_kernel", dispatch_maps_scatter_kernel,
                dim3(static_cast<unsigned>(tiles)), dim3(kDispatchThreads), 0, stream, params);
}

}  // namespace fusedmoe::cuda
