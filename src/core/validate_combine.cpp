// moe_combine validation: expert rows, the slot map, optional weights and shared output.
#include "core/check.h"
#include "core/validate.h"
#include "core/validate_parts.h"

namespace fusedmoe::detail {

Device validate_combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output) {
  validate_plan(plan);
  CallChecker checker(plan, inputs.expert_output, "inputs.expert_output");
  const int64_t hidden = plan.moe.hidden_size;
  const int32_t top_k = plan.moe.top_k;
  checker.require(inputs.expert_output, "inputs.expert_output", activation_dtypes(), {-1, hidden},
                  Memory::kVectorRows);
  checker.require(inputs.slot_to_row, "inputs.slot_to_row", DTypes{DType::kInt32}, {-1, top_k},
                  Memory::kStridedRows);
  const int64_t tokens = inputs.slot_to_row.shape[0];
  checker.check_tokens(tokens, "inputs.slot_to_row");
  if (plan.moe.router_weight_apply == RouterWeightApply::kOnInput) {
    CallChecker::forbid(inputs.topk_weights, "inputs.topk_weights",
                        "router_weight_apply is kOnInput: the weight already scaled the expert's "
                        "input and must not be applied twice");
  } else {
    checker.optional(inputs.topk_weights, "inputs.topk_weights",
                     DTypes{DType::kFloat32, DType::kBFloat16}, {tokens, top_k},
                     Memory::kStridedRows);
  }
  const DTypes output_dtypes = same_dtype_as(inputs.expert_output, "inputs.expert_output");
  checker.require(output, "output", output_dtypes, {tokens, hidden}, Memory::kVectorRows);
  checker.optional(inputs.shared_output, "inputs.shared_output", same_dtype_as(output, "output"),
                   {tokens, hidden}, Memory::kVectorRows);
  return checker.device();
}

}  // namespace fusedmoe::detail
