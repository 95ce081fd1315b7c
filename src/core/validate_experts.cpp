// moe_experts validation: the two input layouts (contiguous segments or masked per-expert
// blocks), already-quantized fp8 inputs with their scales, the output and the weights.
#include <string>

#include "core/check.h"
#include "core/validate.h"
#include "core/validate_parts.h"
#include "core/validate_weights.h"

namespace fusedmoe::detail {

namespace {

// Rows of the expert input: R for kContiguous, or E_l x capacity for kMasked.
struct ExpertRows {
  bool masked;
  int64_t local_experts;
  int64_t rows;  // R, or capacity when masked
  int64_t total() const { return masked ? local_experts * rows : rows; }
};

ExpertRows check_layout_inputs(CallChecker& checker, const MoePlan& plan,
                               const ExpertsInputs& inputs, const DTypes& hidden_dtypes) {
  const int64_t hidden = plan.moe.hidden_size;
  const int64_t local_experts = plan.moe.local_experts();
  const DTypes int32_only{DType::kInt32};
  const DTypes fp32_only{DType::kFloat32};
  if (inputs.layout == ExpertInputLayout::kContiguous) {
    checker.require(inputs.hidden_states, "inputs.hidden_states", hidden_dtypes, {-1, hidden},
                    Memory::kVectorRows);
    const int64_t rows = inputs.hidden_states.shape[0];
    checker.require(inputs.expert_offsets, "inputs.expert_offsets", int32_only, {local_experts + 1},
                    Memory::kContiguous);
    checker.optional(inputs.expert_counts, "inputs.expert_counts", int32_only, {local_experts},
                     Memory::kContiguous);
    checker.optional(inputs.row_weights, "inputs.row_weights", fp32_only, {rows},
                     Memory::kContiguous);
    return ExpertRows{false, local_experts, rows};
  }
  checker.require(inputs.hidden_states, "inputs.hidden_states", hidden_dtypes,
                  {local_experts, -1, hidden}, Memory::kVectorRows);
  const int64_t capacity = inputs.hidden_states.shape[1];
  checker.require(inputs.expert_counts, "inputs.expert_counts", int32_only, {local_experts},
                  Memory::kContiguous);
  CallChecker::forbid(inputs.expert_offsets, "inputs.expert_offsets",
                      "the masked layout reads expert_counts; offsets belong to kContiguous");
  if (checker.optional_placed(inputs.row_weights, "inputs.row_weights", fp32_only)) {
    check_shape_either(inputs.row_weights, "inputs.row_weights", {local_experts * capacity},
                       {local_experts, capacity});
    checker.check_memory(inputs.row_weights, "inputs.row_weights", Memory::kStridedRows);
  }
  return ExpertRows{true, local_experts, capacity};
}

// The scale of already-quantized fp8 rows. Masked rows may carry it flat over E_l * capacity rows
// or per expert, as low-latency dispatchers return it.
void check_input_scale(CallChecker& checker, const MoePlan& plan, const ExpertsInputs& inputs,
                       const ExpertRows& rows) {
  const TensorView& scale = inputs.hidden_states_scale;
  const char* name = "inputs.hidden_states_scale";
  if (inputs.hidden_states.dtype != DType::kFloat8E4M3) {
    CallChecker::forbid(scale, name, "'inputs.hidden_states' is not quantized");
    return;
  }
  const DTypes fp32_only{DType::kFloat32};
  const int64_t groups = (plan.moe.hidden_size + 127) / 128;
  const int64_t experts = rows.local_experts;
  switch (plan.moe.activation_quant) {
    case ActivationQuant::kFP8PerTensor:
      // The static scale the rows were quantized with.
      checker.require(scale, name, fp32_only, {1}, Memory::kContiguous);
      return;
    case ActivationQuant::kFP8PerToken:
      checker.require_placed(scale, name, fp32_only);
      if (rows.masked) {
        check_shape_either(scale, name, {rows.total()}, {experts, rows.rows});
      } else {
        check_shape(scale, name, {rows.rows});
      }
      checker.check_memory(scale, name, Memory::kStridedRows);
      return;
    case ActivationQuant::kFP8Group128:
      checker.require_placed(scale, name, fp32_only);
      if (rows.masked) {
        check_shape_either(scale, name, {rows.total(), groups}, {experts, rows.rows, groups});
      } else {
        check_shape(scale, name, {rows.rows, groups});
      }
      checker.check_memory(scale, name, Memory::kStridedRows);
      return;
    case ActivationQuant::kNone: return;  // fp8 inputs were rejected with the input dtypes
  }
}

}  // namespace

Device validate_experts(const MoePlan& plan, const ExpertsInputs& inputs,
                        const ExpertWeights& weights, TensorView expert_output,
                        Workspace workspace) {
  validate_plan(plan);
  check_enum(inputs.layout, "inputs.layout", "ExpertInputLayout", ExpertInputLayout::kMasked);
  CallChecker checker(plan, inputs.hidden_states, "inputs.hidden_states");
  const bool quantized = plan.moe.activation_quant != ActivationQuant::kNone;
  DTypes hidden_dtypes = activation_dtypes();
  if (quantized) {
    hidden_dtypes.add(DType::kFloat8E4M3)
        .because(std::string("float8_e4m3 when already quantized for activation_quant ") +
                 activation_quant_name(plan.moe.activation_quant));
  } else {
    hidden_dtypes.because("activation_quant none: inputs are not quantized");
  }
  const ExpertRows rows = check_layout_inputs(checker, plan, inputs, hidden_dtypes);
  checker.check_expert_rows(rows.total(), "inputs.hidden_states");
  check_input_scale(checker, plan, inputs, rows);

  const DTypes output_dtypes = inputs.hidden_states.dtype == DType::kFloat8E4M3
                                   ? activation_dtypes()
                                   : same_dtype_as(inputs.hidden_states, "inputs.hidden_states");
  const int64_t hidden = plan.moe.hidden_size;
  if (rows.masked) {
    checker.require(expert_output, "expert_output", output_dtypes,
                    {rows.local_experts, rows.rows, hidden}, Memory::kVectorRows);
  } else {
    checker.require(expert_output, "expert_output", output_dtypes, {rows.rows, hidden},
                    Memory::kVectorRows);
  }
  validate_weights(checker, plan.moe, weights, compute_layout(plan.options.backend));
  checker.check_workspace(workspace);
  return checker.device();
}

}  // namespace fusedmoe::detail
