// Checks shared by several entry points' validators (validate_*.cpp).
#pragma once

#include "core/call_checker.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::detail {

// Argument names of a RoutingInputs: moe_route takes it as `inputs`, moe_fused as `inputs.routing`.
struct RoutingInputNames {
  const char* router_logits;
  const char* correction_bias;
  const char* logits_bias;
  const char* routed_experts_out;
};
extern const RoutingInputNames kRouteInputNames;
extern const RoutingInputNames kFusedRoutingInputNames;

// Logits [M, E] (M = num_tokens, or any when num_tokens < 0), biases, optional capture.
// Returns M.
int64_t check_routing_inputs(CallChecker& checker, const MoePlan& plan, const RoutingInputs& inputs,
                             int64_t num_tokens, const RoutingInputNames& names);

// fp8 modes whose scales are computed from the data (per token row, per 1x128 group).
inline bool is_dynamic_fp8(ActivationQuant quant) {
  return quant == ActivationQuant::kFP8PerToken || quant == ActivationQuant::kFP8Group128;
}

// Activation dtypes: hidden states and outputs are bf16 or fp16.
DTypes activation_dtypes();
// The dtype of `reference` only, naming it as the reason.
DTypes same_dtype_as(const TensorView& reference, const char* reference_name);

}  // namespace fusedmoe::detail
