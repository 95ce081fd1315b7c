// moe_route validation, and the routing-input checks moe_fused shares with it.
#include <string>

#include "core/check.h"
#include "core/validate.h"
#include "core/validate_parts.h"

namespace fusedmoe::detail {

const RoutingInputNames kRouteInputNames{"inputs.router_logits", "inputs.correction_bias",
                                         "inputs.logits_bias", "inputs.routed_experts_out"};
const RoutingInputNames kFusedRoutingInputNames{
    "inputs.routing.router_logits", "inputs.routing.correction_bias", "inputs.routing.logits_bias",
    "inputs.routing.routed_experts_out"};

DTypes activation_dtypes() { return DTypes{DType::kBFloat16, DType::kFloat16}; }

DTypes same_dtype_as(const TensorView& reference, const char* reference_name) {
  return DTypes{reference.dtype}.because(std::string("the dtype of '") + reference_name + "'");
}

int64_t check_routing_inputs(CallChecker& checker, const MoePlan& plan, const RoutingInputs& inputs,
                             int64_t num_tokens, const RoutingInputNames& names) {
  const int64_t experts = plan.moe.num_experts;
  const DTypes float_dtypes{DType::kFloat32, DType::kBFloat16};
  checker.require(inputs.router_logits, names.router_logits, float_dtypes, {num_tokens, experts},
                  Memory::kStridedRows);
  const int64_t tokens = inputs.router_logits.shape[0];
  if (plan.routing.method == RoutingMethod::kSigmoidGroupedTopK) {
    checker.optional(inputs.correction_bias, names.correction_bias, float_dtypes, {experts},
                     Memory::kContiguous);
  } else {
    CallChecker::forbid(inputs.correction_bias, names.correction_bias,
                        std::string("routing method ") + routing_method_name(plan.routing.method) +
                            " has no correction bias; sigmoid_grouped_topk (n_group = 1 for no "
                            "groups) selects with one");
  }
  checker.optional(inputs.logits_bias, names.logits_bias, float_dtypes, {experts},
                   Memory::kContiguous);
  checker.optional(inputs.routed_experts_out, names.routed_experts_out,
                   DTypes{DType::kInt32, DType::kInt16}, {tokens, plan.moe.top_k},
                   Memory::kStridedRows);
  return tokens;
}

Device validate_route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
                      TensorView topk_weights, Workspace workspace) {
  validate_plan(plan);
  CallChecker checker(plan, inputs.router_logits, kRouteInputNames.router_logits);
  const int64_t tokens = check_routing_inputs(checker, plan, inputs, -1, kRouteInputNames);
  checker.check_tokens(tokens, kRouteInputNames.router_logits);
  checker.require(topk_ids, "topk_ids", DTypes{DType::kInt32}, {tokens, plan.moe.top_k},
                  Memory::kStridedRows);
  checker.require(topk_weights, "topk_weights", DTypes{DType::kFloat32}, {tokens, plan.moe.top_k},
                  Memory::kStridedRows);
  checker.check_workspace(workspace);
  return checker.device();
}

}  // namespace fusedmoe::detail
