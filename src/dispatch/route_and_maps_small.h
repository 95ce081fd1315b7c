// Launcher of the small-batch route-and-maps kernel (src/dispatch/sm90_route_and_maps_small.cu):
// routing and the single-tile dispatch maps in one launch, for decode-sized batches.
#pragma once

#include <cuda_runtime_api.h>

#include "dispatch/dispatch_kernels.h"
#include "routing/routing_kernels.h"

namespace fusedmoe::cuda {

// True when one block can route every token and build the maps: 1 <= M <= a few tokens per warp,
// M * top_k <= kTileSlots, int32 ids written by the routing half, and the shared memory fits
// without an opt-in. `route` must already satisfy topk_routing_supports.
bool route_and_maps_small_supports(const TopKRoutingParams& route, const DispatchMapsParams& maps);

// Enqueues the kernel (PDL launch). maps.topk_ids must be route.topk_ids (int32, same row stride).
void launch_route_and_maps_small(const TopKRoutingParams& route, const DispatchMapsParams& maps,
                                 cudaStream_t stream);

}  // namespace fusedmoe::cuda
