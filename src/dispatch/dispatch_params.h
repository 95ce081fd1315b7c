// Pieces of cuda::dispatch shared with cuda::route_and_dispatch, so both paths launch the maps and
// permute_rows kernels with the same parameters (src/dispatch/dispatch.cu implements them).
#pragma once

#include "dispatch/dispatch_kernels.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::cuda {

// Maps parameters from the validated views (fill_rows and tile_counts left 0). Throws
// fusedmoe::Error kUnsupported past kMaxDispatchLocalExperts local experts.
DispatchMapsParams dispatch_maps_params(const MoePlan& plan, TensorView topk_ids,
                                        int32_t row_alignment, const DispatchMaps& maps);

// True when a single-tile maps kernel writes the -1 of the unused rows itself (maps only, few
// rows), so no permute_rows launch follows.
bool single_tile_fills_rows(const DispatchMaps& maps, TensorView permuted_hidden);

// Enqueues permute_rows after the maps: the -1 rows, and the gather when permuted_hidden is given.
void launch_dispatch_permute(const MoePlan& plan, const DispatchMapsParams& maps_params,
                             const DispatchMaps& maps, TensorView hidden_states,
                             TensorView permuted_hidden, TensorView permuted_hidden_scale,
                             Stream stream);

}  // namespace fusedmoe::cuda
