// First kernel of the multi-tile dispatch maps: per-tile expert histogram.
// tile_counts[tile, e] = number of slots of tile `tile` (kTileSlots consecutive flat slots
// token * top_k + slot) whose id is local expert e. Grid = ceil(M * top_k / kTileSlots).
//
// NOTES: shared-memory integer atomics only count, so the result does not depend on their order.
#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "dispatch/dispatch_kernels.h"
#include "dispatch/tile_ranking.cuh"

namespace fusedmoe::cuda {
namespace {

__global__ void __launch_bounds__(kDispatchThreads)
    expert_tile_histogram_kernel(const DispatchMapsParams p) {
  wait_for_previous_grid();
  allow_next_grid();
  __shared__ int histogram[kMaxDispatchLocalExperts];
  for (int e = threadIdx.x; e < p.local_experts; e += blockDim.x) histogram[e] = 0;
  __syncthreads();
  const int64_t num_slots = static_cast<int64_t>(p.num_tokens) * p.top_k;
  const int64_t tile_begin = static_cast<int64_t>(blockIdx.x) * kTileSlots;
  for (int i = threadIdx.x; i < kTileSlots; i += blockDim.x) {
    const int expert = dispatch_detail::local_expert_of(p, tile_begin + i, num_slots);
    if (expert >= 0) atomicAdd(&histogram[expert], 1);
  }
  __syncthreads();
  int* counts = p.tile_counts + static_cast<int64_t>(blockIdx.x) * p.local_experts;
  for (int e = threadIdx.x; e < p.local_experts; e += blockDim.x) counts[e] = histogram[e];
}

}  // namespace

void launch_expert_tile_histogram(const DispatchMapsParams& params, cudaStream_t stream) {
  const int64_t tiles = dispatch_num_tiles(static_cast<int64_t>(params.num_tokens) * params.top_k);
  launch_kernel("expert_tile_histogram_kernel", expert_tile_histogram_kernel,
                dim3(static_cast<unsigned>(tiles)), dim3(kDispatchThreads), 0, stream, params);
}

}  // namespace fusedmoe::cuda
