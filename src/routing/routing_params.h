// The routing kernels' parameters from the validated views of moe_route: shared by cuda::route
// and cuda::route_and_dispatch so both launch paths route with the same parameters.
#pragma once

#include "fusedmoe/moe.h"
#include "routing/routing_kernels.h"

namespace fusedmoe::cuda {

// Throws fusedmoe::Error kUnsupported when the kernels cannot run the plan's E / top_k.
TopKRoutingParams topk_routing_params(const MoePlan& plan, const RoutingInputs& inputs,
                                      TensorView topk_ids, TensorView topk_weights);

}  // namespace fusedmoe::cuda
