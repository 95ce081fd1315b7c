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
// (32 KiB at E_l = 1024). The body is dispatch/single_tile_maps.cuh (shared with the small-batch
// route-and-maps kernel).
#include <cub/block/block_scan.cuh>

#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "dispatch/dispatch_kernels.h"
#include "dispatch/single_tile_maps.cuh"

namespace fusedmoe::cuda {
namespace {

using OffsetsScan = cub::BlockScan<int, kDispatchThreads>;

__global__ void __launch_bounds__(kDispatchThreads)
    dispatch_maps_single_tile_kernel(const DispatchMapsParams p) {
  wait_for_previous_grid();
  allow_next_grid();
  __shared__ int warp_counts[kDispatchWarps * kMaxDispatchLocalExperts];
  __shared__ int expert_total[kMaxDispatchLocalExperts];
  __shared__ int first_row[kMaxDispatchLocalExperts];
  __shared__ typename OffsetsScan::TempStorage scan_storage;
  dispatch_detail::build_single_tile_maps<kDispatchWarps, OffsetsScan>(
      p, warp_counts, expert_total, first_row, scan_storage);
}

}  // namespace

void launch_dispatch_maps_single_tile(const DispatchMapsParams& params, cudaStream_t stream) {
  launch_kernel("dispatch_maps_single_tile_kernel", dispatch_maps_single_tile_kernel, dim3(1),
                dim3(kDispatchThreads), 0, stream, params);
}

}  // namespace fusedmoe::cuda
