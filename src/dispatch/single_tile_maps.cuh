// The body of the single-tile dispatch maps (num_tokens * top_k <= kTileSlots), shared by the
// dispatch_maps_single_tile kernel (256 threads) and the small-batch route-and-maps kernel (up to
// 1024 threads), so both write bitwise the same maps: per-expert counts, offsets padded to
// row_alignment, slot_to_row, row_to_slot of the token rows, and with fill_rows > 0 the -1 of
// every unused row of [0, fill_rows).
//
// Block-wide: every thread of a block of kWarps warps calls it once. The result does not depend on
// kWarps (ranks are counts of earlier same-expert slots; offsets are integer prefix sums).
#pragma once

#include <cub/block/block_scan.cuh>

#include "dispatch/dispatch_kernels.h"
#include "dispatch/tile_ranking.cuh"

namespace fusedmoe::cuda::dispatch_detail {

// Shared memory of build_single_tile_maps. warp_counts: [kWarps * local_experts];
// expert_total, first_row: [local_experts]; scan: Scan's temp storage. Scan is a cub::BlockScan
// of int over the block's 32 * kWarps threads.
template <int kWarps, typename Scan>
__device__ __forceinline__ void build_single_tile_maps(const DispatchMapsParams& p,
                                                       int* warp_counts, int* expert_total,
                                                       int* first_row,
                                                       typename Scan::TempStorage& scan) {
  constexpr int kThreads = kWarps * 32;
  static_assert(kMaxDispatchLocalExperts % kThreads == 0, "experts split evenly over threads");
  constexpr int kExpertsPerThread = kMaxDispatchLocalExperts / kThreads;
  const int64_t num_slots = static_cast<int64_t>(p.num_tokens) * p.top_k;
  // Just enough chunks per warp for the slots, so every warp takes a share of a small batch.
  const int64_t needed_chunks = (num_slots + kWarps * 32 - 1) / (kWarps * 32);
  const int chunks = needed_chunks > 0 ? static_cast<int>(needed_chunks) : 1;
  TileSlots slots;
  rank_tile_slots<kWarps>(p, 0, chunks, num_slots, warp_counts, expert_total, slots);

  int padded[kExpertsPerThread];
#pragma unroll
  for (int j = 0; j < kExpertsPerThread; ++j) {
    const int expert = threadIdx.x * kExpertsPerThread + j;
    const int count = expert < p.local_experts ? expert_total[expert] : 0;
    padded[j] = (count + p.row_alignment - 1) / p.row_alignment * p.row_alignment;
  }
  int exclusive[kExpertsPerThread];
  int total_rows = 0;
  Scan(scan).ExclusiveSum(padded, exclusive, total_rows);
#pragma unroll
  for (int j = 0; j < kExpertsPerThread; ++j) {
    const int expert = threadIdx.x * kExpertsPerThread + j;
    if (expert < p.local_experts) {
      first_row[expert] = exclusive[j];
      p.expert_offsets[expert] = exclusive[j];
      p.expert_counts[expert] = expert_total[expert];
    }
  }
  if (threadIdx.x == 0) p.expert_offsets[p.local_experts] = total_rows;
  __syncthreads();
  write_tile_maps(p, 0, chunks, num_slots, first_row, slots);
  if (p.fill_rows > 0) {
    // Rows no slot claims (disjoint from the token rows written above): each expert's padding,
    // then the tail past the last segment.
    for (int expert = threadIdx.x; expert < p.local_experts; expert += blockDim.x) {
      const int count = expert_total[expert];
      const int end =
          first_row[expert] + (count + p.row_alignment - 1) / p.row_alignment * p.row_alignment;
      for (int row = first_row[expert] + count; row < end; ++row) p.row_to_slot[row] = -1;
    }
    for (int row = total_rows + threadIdx.x; row < p.fill_rows; row += blockDim.x) {
      p.row_to_slot[row] = -1;
    }
  }
}

}  // namespace fusedmoe::cuda::dispatch_detail
