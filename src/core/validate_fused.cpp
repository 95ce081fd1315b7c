// moe_fused and moe_routed validation: hidden states in, output out, routing given as logits
// (fused) or as top-k ids and weights (routed), weights for the plan's backend.
#include "core/check.h"
#include "core/validate.h"
#include "core/validate_parts.h"
#include "core/validate_weights.h"

namespace fusedmoe::detail {

namespace {

// Hidden states (the call's anchor): returns M.
int64_t check_hidden(CallChecker& checker, const MoePlan& plan, const TensorView& hidden_states) {
  checker.require(hidden_states, "inputs.hidden_states", activation_dtypes(),
                  {-1, plan.moe.hidden_size}, Memory::kVectorRows);
  const int64_t tokens = hidden_states.shape[0];
  checker.check_tokens(tokens, "inputs.hidden_states");
  return tokens;
}

void check_outputs(CallChecker& checker, const MoePlan& plan, const TensorView& hidden_states,
                   const TensorView& shared_output, const TensorView& output, int64_t tokens) {
  const int64_t hidden = plan.moe.hidden_size;
  const DTypes hidden_dtype = same_dtype_as(hidden_states, "inputs.hidden_states");
  checker.optional(shared_output, "inputs.shared_output", hidden_dtype, {tokens, hidden},
                   Memory::kVectorRows);
  checker.require(output, "output", hidden_dtype, {tokens, hidden}, Memory::kVectorRows);
}

}  // namespace

Device validate_fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
                      TensorView output, Workspace workspace) {
  validate_plan(plan);
  CallChecker checker(plan, inputs.hidden_states, "inputs.hidden_states");
  const int64_t tokens = check_hidden(checker, plan, inputs.hidden_states);
  check_routing_inputs(checker, plan, inputs.routing, tokens, kFusedRoutingInputNames);
  check_outputs(checker, plan, inputs.hidden_states, inputs.shared_output, output, tokens);
  validate_weights(checker, plan.moe, weights, compute_layout(plan.options.backend));
  checker.check_workspace(workspace);
  return checker.device();
}

Device validate_routed(const MoePlan& plan, const RoutedInputs& inputs,
                       const ExpertWeights& weights, TensorView output, Workspace workspace) {
  validate_plan(plan);
  CallChecker checker(plan, inputs.hidden_states, "inputs.hidden_states");
  const int64_t tokens = check_hidden(checker, plan, inputs.hidden_states);
  checker.require(inputs.topk_ids, "inputs.topk_ids", DTypes{DType::kInt32, DType::kInt64},
                  {tokens, plan.moe.top_k}, Memory::kStridedRows);
  checker.require(inputs.topk_weights, "inputs.topk_weights",
                  DTypes{DType::kFloat32, DType::kBFloat16}, {tokens, plan.moe.top_k},
                  Memory::kStridedRows);
  check_outputs(checker, plan, inputs.hidden_states, inputs.shared_output, output, tokens);
  validate_weights(checker, plan.moe, weights, compute_layout(plan.options.backend));
  checker.check_workspace(workspace);
  return checker.device();
}

}  // namespace fusedmoe::detail
