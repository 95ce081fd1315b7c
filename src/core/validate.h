// Validation of every entry point's arguments, run before any work. Each function throws
// fusedmoe::Error (kInvalidArgument / kUnsupported) naming the argument, the expected and the
// given value, and returns the device all tensors live on.
#pragma once

#include "fusedmoe/moe.h"

namespace fusedmoe::detail {

void validate_config(const MoeConfig& moe, const RoutingConfig& routing, const PlanOptions& options);

Device validate_route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
                      TensorView topk_weights, Workspace workspace);
Device validate_dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
                         const DispatchMaps& maps, TensorView hidden_states,
                         TensorView permuted_hidden, TensorView permuted_hidden_scale,
                         Workspace workspace);
Device validate_experts(const MoePlan& plan, const ExpertsInputs& inputs,
                        const ExpertWeights& weights, TensorView expert_output, Workspace workspace);
Device validate_combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output);
Device validate_fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
                      TensorView output, Workspace workspace);
Device validate_routed(const MoePlan& plan, const RoutedInputs& inputs,
                       const ExpertWeights& weights, TensorView output, Workspace workspace);
void validate_weights(const MoePlan& plan, const ExpertWeights& weights, const Device& device);

}  // namespace fusedmoe::detail
