// Device helpers shared by the dispatch-maps kernels: reading a slot's local expert, and ranking the
// slots of one tile stably (the rank of a slot among the earlier slots of the tile with the same
// local expert), which is what makes the permuted row order (local expert, token, slot).
//
// A tile is up to kTileSlots consecutive flat slots (token * top_k + slot). With `chunks` chunks
// of 32 per warp (8 for a full tile; fewer for a small single tile, so that all 8 warps share the
// work), warp w owns [w * chunks * 32, (w + 1) * chunks * 32) and walks it in order; inside a chunk,
// __match_any_sync groups the lanes with the same expert and the popcount of the lower lanes is the
// rank within the chunk. Per-warp counters in shared memory carry the rank across chunks, and an
// exclusive prefix over the warps (per expert) turns it into a rank within the tile. Only integer
// counts are involved: the result is deterministic whatever the scheduling.
#pragma once

#include <cstdint>

#include "dispatch/dispatch_kernels.h"

namespace fusedmoe::cuda::dispatch_detail {

constexpr unsigned kFullMask = 0xffffffffu;

// Local expert of flat slot `slot`, or -1 when the slot is past the end, its id is -1, or the id
// is outside [first_expert, first_expert + local_experts). Ids are data: any value is safe.
__device__ __forceinline__ int local_expert_of(const DispatchMapsParams& p, int64_t slot,
                                               int64_t num_slots) {
  if (slot >= num_slots) return -1;
  const int64_t token = slot / p.top_k;
  const int64_t index = token * p.ids_row_stride + (slot - token * p.top_k);
  const int64_t id = p.ids_int64 ? static_cast<const int64_t*>(p.topk_ids)[index]
                                 : static_cast<const int32_t*>(p.topk_ids)[index];
  const int64_t local = id - p.first_expert;
  return (local >= 0 && local < p.local_experts) ? static_cast<int>(local) : -1;
}

// Slots of this thread in the tile: chunk c of warp w, lane l is slot
// tile_begin + (w * chunks + c) * 32 + l.
struct TileSlots {
  int expert[kChunksPerWarp];  // local expert or -1
  int rank[kChunksPerWarp];    // rank among the same expert's slots of the tile (valid when >= 0)
};

__device__ __forceinline__ int64_t tile_slot(int64_t tile_begin, int chunks, int warp, int chunk,
                                             int lane) {
  return tile_begin + (static_cast<int64_t>(warp) * chunks + chunk) * 32 + lane;
}

// Ranks the slots of the tile starting at `tile_begin`. warp_counts: shared [kDispatchWarps *
// local_experts]; on return warp_counts[w * E_l + e] holds the number of expert-e slots in warps
// < w, and tile_total[e] (shared [local_experts]) the tile's count of expert e. Block-wide: every
// thread of the block must call it.
__device__ __forceinline__ void rank_tile_slots(const DispatchMapsParams& p, int64_t tile_begin,
                                                int chunks, int64_t num_slots, int* warp_counts,
                                                int* tile_total, TileSlots& slots) {
  const int local_experts = p.local_experts;
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  for (int i = threadIdx.x; i < kDispatchWarps * local_experts; i += blockDim.x) warp_counts[i] = 0;
  __syncthreads();

  int* my_counts = warp_counts + warp * local_experts;
  const unsigned lower_lanes = (1u << lane) - 1u;
  // All ids first: eight independent loads in flight instead of one per chunk.
#pragma unroll
  for (int chunk = 0; chunk < kChunksPerWarp; ++chunk) {
    slots.expert[chunk] =
        chunk < chunks ? local_expert_of(p, tile_slot(tile_begin, chunks, warp, chunk, lane), num_slots)
                       : -1;
  }
#pragma unroll
  for (int chunk = 0; chunk < kChunksPerWarp; ++chunk) {
    if (chunk >= chunks) break;  // warp-uniform
    const int expert = slots.expert[chunk];
    const unsigned peers = __match_any_sync(kFullMask, expert);
    const bool leader = (__ffs(peers) - 1) == lane;
    const int before = expert >= 0 ? my_counts[expert] : 0;
    __syncwarp();  // every peer has read the counter before its leader advances it
    if (expert >= 0 && leader) my_counts[expert] = before + __popc(peers);
    __syncwarp();
    slots.rank[chunk] = before + __popc(peers & lower_lanes);
  }
  __syncthreads();

  for (int e = threadIdx.x; e < local_experts; e += blockDim.x) {
    int running = 0;
#pragma unroll
    for (int w = 0; w < kDispatchWarps; ++w) {
      const int count = warp_counts[w * local_experts + e];
      warp_counts[w * local_experts + e] = running;
      running += count;
    }
    tile_total[e] = running;
  }
  __syncthreads();
#pragma unroll
  for (int chunk = 0; chunk < kChunksPerWarp; ++chunk) {
    if (slots.expert[chunk] >= 0) slots.rank[chunk] += my_counts[slots.expert[chunk]];
  }
}

// Writes both maps for the tile's slots given the first row of each expert's share of this tile.
// first_row: shared or global [local_experts].
__device__ __forceinline__ void write_tile_maps(const DispatchMapsParams& p, int64_t tile_begin,
                                                int chunks, int64_t num_slots, const int* first_row,
                                                const TileSlots& slots) {
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
#pragma unroll
  for (int chunk = 0; chunk < kChunksPerWarp; ++chunk) {
    const int64_t slot = tile_slot(tile_begin, chunks, warp, chunk, lane);
    if (chunk >= chunks || slot >= num_slots) continue;
    const int expert = slots.expert[chunk];
    const int row = expert >= 0 ? first_row[expert] + slots.rank[chunk] : -1;
    const int64_t token = slot / p.top_k;
    p.slot_to_row[token * p.slot_to_row_stride + (slot - token * p.top_k)] = row;
    if (row >= 0) p.row_to_slot[row] = static_cast<int32_t>(slot);
  }
}

}  // namespace fusedmoe::cuda::dispatch_detail
