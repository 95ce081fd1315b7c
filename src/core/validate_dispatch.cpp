// moe_dispatch validation: ids, row alignment, the four maps and the optional row gather.
#include <string>

#include "core/check.h"
#include "core/limits.h"
#include "core/validate.h"
#include "core/validate_parts.h"

namespace fusedmoe::detail {

namespace {

bool is_power_of_two(int32_t value) { return value > 0 && (value & (value - 1)) == 0; }

void check_row_alignment(int32_t row_alignment) {
  check_int_range(row_alignment, "row_alignment", 1, kMaxRowAlignment);
  if (!is_power_of_two(row_alignment)) {
    throw_invalid("row_alignment", "a power of two", std::to_string(row_alignment));
  }
}

// Returns R, the rows of the permuted buffer.
int64_t check_maps(CallChecker& checker, const MoePlan& plan, const DispatchMaps& maps,
                   int64_t tokens, int32_t row_alignment) {
  const int64_t local_experts = plan.moe.local_experts();
  const DTypes int32_only{DType::kInt32};
  checker.require(maps.expert_offsets, "maps.expert_offsets", int32_only, {local_experts + 1},
                  Memory::kContiguous);
  checker.require(maps.expert_counts, "maps.expert_counts", int32_only, {local_experts},
                  Memory::kContiguous);
  checker.require(maps.row_to_slot, "maps.row_to_slot", int32_only, {-1}, Memory::kContiguous);
  const int64_t rows = maps.row_to_slot.shape[0];
  const int64_t needed = max_dispatch_rows(plan.moe, tokens, row_alignment);
  if (rows < needed) {
    throw_invalid(
        "maps.row_to_slot",
        "at least " + std::to_string(needed) +
            " rows (M * top_k + local experts * (row_alignment - 1) = " + std::to_string(tokens) +
            " * " + std::to_string(plan.moe.top_k) + " + " + std::to_string(local_experts) + " * " +
            std::to_string(row_alignment - 1) + ")",
        std::to_string(rows) + " rows");
  }
  checker.check_expert_rows(rows, "maps.row_to_slot");
  checker.require(maps.slot_to_row, "maps.slot_to_row", int32_only, {tokens, plan.moe.top_k},
                  Memory::kStridedRows);
  return rows;
}

void check_gather(CallChecker& checker, const MoePlan& plan, TensorView hidden_states,
                  TensorView permuted_hidden, TensorView permuted_hidden_scale, int64_t tokens,
                  int64_t rows) {
  check_ndim(hidden_states, "hidden_states");
  check_ndim(permuted_hidden, "permuted_hidden");
  if (!permuted_hidden.defined()) {
    CallChecker::forbid(hidden_states, "hidden_states",
                        "rows are gathered only into a given 'permuted_hidden'");
    CallChecker::forbid(permuted_hidden_scale, "permuted_hidden_scale",
                        "no 'permuted_hidden' is given");
    return;
  }
  if (!hidden_states.defined()) {
    throw_invalid("hidden_states", "a tensor (the rows to gather into 'permuted_hidden')",
                  "none (absent)");
  }
  const int64_t hidden = plan.moe.hidden_size;
  checker.require(hidden_states, "hidden_states", activation_dtypes(), {tokens, hidden},
                  Memory::kVectorRows);
  // Quantized modes may quantize while gathering; every mode may gather unquantized rows
  // (moe_experts then quantizes them itself).
  const ActivationQuant quant = plan.moe.activation_quant;
  DTypes permuted_dtypes = DTypes{hidden_states.dtype};
  if (quant != ActivationQuant::kNone) {
    permuted_dtypes.add(DType::kFloat8E4M3)
        .because("the dtype of 'hidden_states', or float8_e4m3 to quantize while gathering");
  } else {
    permuted_dtypes.because("the dtype of 'hidden_states': activation_quant none");
  }
  checker.require(permuted_hidden, "permuted_hidden", permuted_dtypes, {rows, hidden},
                  Memory::kVectorRows);
  const char* scale_name = "permuted_hidden_scale";
  if (permuted_hidden.dtype != DType::kFloat8E4M3) {
    CallChecker::forbid(permuted_hidden_scale, scale_name, "'permuted_hidden' is not quantized");
    return;
  }
  const DTypes fp32_only{DType::kFloat32};
  switch (quant) {
    case ActivationQuant::kFP8Group128:
      checker.require(permuted_hidden_scale, scale_name, fp32_only, {rows, (hidden + 127) / 128},
                      Memory::kStridedRows);
      break;
    case ActivationQuant::kFP8PerToken:
      checker.require(permuted_hidden_scale, scale_name, fp32_only, {rows}, Memory::kContiguous);
      break;
    case ActivationQuant::kFP8PerTensor:
      // An input here: the static scale the rows are quantized with (weights.a1_scale's value).
      checker.require(permuted_hidden_scale, scale_name, fp32_only, {1}, Memory::kContiguous);
      break;
    case ActivationQuant::kNone: break;
  }
}

}  // namespace

Device validate_dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
                         const DispatchMaps& maps, TensorView hidden_states,
                         TensorView permuted_hidden, TensorView permuted_hidden_scale,
                         Workspace workspace) {
  validate_plan(plan);
  CallChecker checker(plan, topk_ids, "topk_ids");
  checker.require(topk_ids, "topk_ids", DTypes{DType::kInt32, DType::kInt64}, {-1, plan.moe.top_k},
                  Memory::kStridedRows);
  const int64_t tokens = topk_ids.shape[0];
  checker.check_tokens(tokens, "topk_ids");
  check_row_alignment(row_alignment);
  const int64_t rows = check_maps(checker, plan, maps, tokens, row_alignment);
  check_gather(checker, plan, hidden_states, permuted_hidden, permuted_hidden_scale, tokens, rows);
  checker.check_workspace(workspace);
  return checker.device();
}

}  // namespace fusedmoe::detail
