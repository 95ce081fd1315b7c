// Dispatch maps for small batches (num_tokens * top_k <= kTileSlots): one 256-thread block builds
// everything in one launch: per-expert counts, offsets padded to row_alignment, slot_to_row and
// row_to_slot (token rows; the unused rows too when fill_rows > 0, otherwise permute_rows
// writes them).
//
// Layout: topk_ids [M, top_k] int32/int64 (row stride given); maps contiguous int32. Rows are
// ordered by local expert, then token, then slot (tile_ranking.cuh ranks the slots stably).
//
// NOTES: one launch instead of three is what keeps routing + dispatch within a few microseconds
// for decode batches; the per-warp counters need kDispatchWarps * E_l ints of shared memory
// (32 KiB at E_l = 1024).
#include <cub/block/block_scan.cuh>

#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "dispatch/dispatch_kernels.h"
#include "dispatch/tile_ranking.cuh"

namespace fusedmoe::cuda {
namespace {

constexpr int kExpertsPerThread = kMaxDispatchLocalExperts / kDispatchThreads;
using OffsetsScan = cub::BlockScan<int, kDispatchThreads>;

__global__ void __launch_bounds__(kDispatchThreads)
    dispatch_maps_single_tile_kernel(const DispatchMapsParams p) {
  wait_for_previous_grid();
  allow_next_grid();
  __shared__ int warp_counts[kDispatchWarps * kMaxDispatchLocalExperts];
  __shared__ int expert_total[kMaxDispatchLocalExperts];
  __shared__ int first_row[kMaxDispatchLocalExperts];
  __shared__ typename OffsetsScan::TempStorage scan_storage;

  const int64_t num_slots = static_cast<int64_t>(p.num_tokens) * p.top_k;
  // Just enough chunks per warp for the slots, so every warp takes a share of a small batch.
  const int64_t needed_chunks = (num_slots + kDispatchWarps * 32 - 1) / (kDispatchWarps * 32);
  const int chunks = needed_chunks > 0 ? static_cast<int>(needed_chunks) : 1;
  dispatch_detail::TileSlots slots;
  dispatch_detail::rank_tile_slots(p, 0, chunks, num_slots, warp_counts, expert_total, slots);

  int padded[kExpertsPerThread];
#pragma unroll
  for (int j = 0; j < kExpertsPerThread; ++j) {
    const int expert = threadIdx.x * kExpertsPerThread + j;
    const int count = expert < p.local_experts ? expert_total[expert] : 0;
    padded[j] = (count + p.row_alignment - 1) / p.row_alignment * p.row_alignment;
  }
  int exclusive[kExpertsPerThread];
  int total_rows = 0;
  OffsetsScan(scan_storage).ExclusiveSum(padded, exclusive, total_rows);
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
  dispatch_detail::write_tile_maps(p, 0, chunks, num_slots, first_row, slots);
  if (p.fill_rows > 0) {
    // Rows no slot claims (disjoint from the token rows written above): each expert's padding,
    // then the tail past the last segment.
    for (int expert = threadIdx.x; expert < p.local_experts; expert += blockDim.x) {
      const int count = expert_total[expert];
      const int end = first_row[expert] + (count + p.row_alignment - 1) / p.row_alignment * p.row_alignment;
      for (int row = first_row[expert] + count; row < end; ++row) p.row_to_slot[row] = -1;
    }
    for (int row = total_rows + threadIdx.x; row < p.fill_rows; row += blockDim.x) {
      p.row_to_slot[row] = -1;
    }
  }
}

}  // namespace

void launch_dispatch_maps_single_tile(const DispatchMapsParams& params, cudaStream_t stream) {
  launch_kernel("dispatch_maps_single_tile_kernel", dispatch_maps_single_tile_kernel, dim3(1),
                dim3(kDispatchThreads), 0, stream, params);
}

}  // namespace fusedmoe::cuda
