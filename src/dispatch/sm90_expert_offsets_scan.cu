// Second kernel of the multi-tile dispatch maps (one block): from the per-tile histograms
// tile_counts[tile, e], computes expert_counts[e], expert_offsets (counts rounded up to
// row_alignment, exclusive scan, offsets[E_l] = total rows) and rewrites tile_counts[tile, e] in
// place as the first permuted row of expert e's slots in that tile:
//   offsets[e] + sum over earlier tiles of tile_counts[., e].
//
// NOTES: thread e walks the tiles of expert e (coalesced across threads); the loads of successive
// tiles are independent, so the unrolled loop keeps several in flight.
#include <cub/block/block_scan.cuh>

#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "dispatch/dispatch_kernels.h"

namespace fusedmoe::cuda {
namespace {

constexpr int kScanThreads = kMaxDispatchLocalExperts;
using OffsetsScan = cub::BlockScan<int, kScanThreads>;

__global__ void __launch_bounds__(kScanThreads) expert_offsets_scan_kernel(const DispatchMapsParams p) {
  wait_for_previous_grid();
  allow_next_grid();
  __shared__ typename OffsetsScan::TempStorage scan_storage;
  const int expert = threadIdx.x;
  const bool active = expert < p.local_experts;
  const int64_t slots = static_cast<int64_t>(p.num_tokens) * p.top_k;
  const int tiles = static_cast<int>((slots + kTileSlots - 1) / kTileSlots);
  int total = 0;
  if (active) {
#pragma unroll 8
    for (int tile = 0; tile < tiles; ++tile) {
      int* cell = p.tile_counts + static_cast<int64_t>(tile) * p.local_experts + expert;
      const int count = *cell;
      *cell = total;
      total += count;
    }
  }
  const int padded = (total + p.row_alignment - 1) / p.row_alignment * p.row_alignment;
  int first_row = 0;
  int total_rows = 0;
  OffsetsScan(scan_storage).ExclusiveSum(padded, first_row, total_rows);
  if (active) {
    p.expert_counts[expert] = total;
    p.expert_offsets[expert] = first_row;
#pragma unroll 8
    for (int tile = 0; tile < tiles; ++tile) {
      p.tile_counts[static_cast<int64_t>(tile) * p.local_experts + expert] += first_row;
    }
  }
  if (threadIdx.x == 0) p.expert_offsets[p.local_experts] = total_rows;
}

}  // namespace

void launch_expert_offsets_scan(const DispatchMapsParams& params, cudaStream_t stream) {
  launch_kernel("expert_offsets_scan_kernel", expert_offsets_scan_kernel, dim3(1),
                dim3(kScanThreads), 0, stream, params);
}

}  // namespace fusedmoe::cuda
