// cuda::route_and_dispatch: routing followed by dispatch with one launch less for decode batches.
// When the small-batch route-and-maps kernel applies (route_and_maps_small.h), it writes the ids,
// weights, capture and maps in one launch and permute_rows follows (PDL), unless the maps-only
// call needs no permute at all; otherwise this is exactly cuda::route then cuda::dispatch. Either
// way the outputs are bitwise those of the two calls. No sync, no allocation.
#include "core/cuda_backend.h"
#include "dispatch/dispatch_kernels.h"
#include "dispatch/dispatch_params.h"
#include "dispatch/route_and_maps_small.h"
#include "routing/routing_params.h"

namespace fusedmoe::cuda {

void route_and_dispatch(const MoePlan& plan, const RoutingInputs& routing_inputs,
                        TensorView topk_ids, TensorView topk_weights, int32_t row_alignment,
                        const DispatchMaps& maps, TensorView hidden_states,
                        TensorView permuted_hidden, TensorView permuted_hidden_scale,
                        Workspace workspace, Stream stream) {
  const TopKRoutingParams route_params =
      topk_routing_params(plan, routing_inputs, topk_ids, topk_weights);
  DispatchMapsParams maps_params = dispatch_maps_params(plan, topk_ids, row_alignment, maps);
  if (!route_and_maps_small_supports(route_params, maps_params)) {
    route(plan, routing_inputs, topk_ids, topk_weights, workspace, stream);
    dispatch(plan, topk_ids, row_alignment, maps, hidden_states, permuted_hidden,
             permuted_hidden_scale, workspace, stream);
    return;
  }
  const bool fill_in_maps_kernel = single_tile_fills_rows(maps, permuted_hidden);
  if (fill_in_maps_kernel) maps_params.fill_rows = static_cast<int32_t>(maps.row_to_slot.size(0));
  launch_route_and_maps_small(route_params, maps_params, stream);
  if (fill_in_maps_kernel) return;
  launch_dispatch_permute(plan, maps_params, maps, hidden_states, permuted_hidden,
                          permuted_hidden_scale, stream);
}

}  // namespace fusedmoe::cuda
