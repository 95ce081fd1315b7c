// Validation of every entry point's arguments, run before any work. Each function throws
// fusedmoe::Error (kInvalidArgument) naming the argument, the expected and the given value, and
// returns the device all tensors live on. Only host-side metadata is read: never tensor memory
// (out-of-range expert ids are data the kernels handle, not a validation error).
#pragma once

#include "fusedmoe/moe.h"

namespace fusedmoe::detail {

// Configuration checks. Argument names carry `prefix`: "moe.top_k" for make_plan's arguments,
// "plan.moe.top_k" when an entry point re-checks the plan it was given (plans are plain structs
// a caller can edit after make_plan).
void validate_moe_config(const MoeConfig& moe, const char* prefix);
void validate_routing_config(const RoutingConfig& routing, const MoeConfig& moe, const char* prefix,
                             const char* moe_prefix);
void validate_options(const PlanOptions& options, const MoeConfig& moe, const char* prefix);
void validate_config(const MoeConfig& moe, const RoutingConfig& routing,
                     const PlanOptions& options);
void validate_plan(const MoePlan& plan);

Device validate_route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
                      TensorView topk_weights, Workspace workspace);
Device validate_dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
                         const DispatchMaps& maps, TensorView hidden_states,
                         TensorView permuted_hidden, TensorView permuted_hidden_scale,
                         Workspace workspace);
Device validate_experts(const MoePlan& plan, const ExpertsInputs& inputs,
                        const ExpertWeights& weights, TensorView expert_output,
                        Workspace workspace);
Device validate_combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output);
Device validate_fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
                      TensorView output, Workspace workspace);
Device validate_routed(const MoePlan& plan, const RoutedInputs& inputs,
                       const ExpertWeights& weights, TensorView output, Workspace workspace);
// prepare_weights: config, backend, checkpoint-layout weights on the backend's device, scratch.
Device validate_prepare(const MoeConfig& moe, Backend backend, const ExpertWeights& weights,
                        Workspace scratch);

}  // namespace fusedmoe::detail
