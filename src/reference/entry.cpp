// Fused and routed references: compositions of the stage references, exactly as the GPU pipeline
// composes its kernels.
//
//   fused  = route -> routed pipeline with the routing result
//   routed = dispatch (row_alignment 1) -> [kOnInput: x' = round(w * x), slot weight becomes 1]
//            -> experts (unweighted rows, rounded to the activation dtype)
//            -> combine with the slot weights (kOnOutput) or without (kOnInput); rsf applied
//               there once
//
// Both entries feed the same function with int64 ids and fp32 weights, so routed given the fused
// call's ids and weights is bitwise identical to fused.
#include <cstdint>
#include <vector>

#include "reference/reference.h"
#include "reference/tensor_access.h"

namespace fusedmoe::reference {
namespace {

struct TopK {
  int64_t num_tokens = 0;
  int64_t top_k = 0;
  std::vector<int32_t> ids;    // [M, k]; anything outside int32 is no expert (-1)
  std::vector<float> weights;  // [M, k]
};

TopK read_topk(TensorView topk_ids, TensorView topk_weights) {
  TopK topk;
  topk.num_tokens = topk_ids.size(0);
  topk.top_k = topk_ids.size(1);
  for (int64_t t = 0; t < topk.num_tokens; ++t) {
    for (int64_t s = 0; s < topk.top_k; ++s) {
      const int64_t id = load_int_at(topk_ids, {t, s});
      topk.ids.push_back(id < INT32_MIN || id > INT32_MAX ? -1 : static_cast<int32_t>(id));
      topk.weights.push_back(static_cast<float>(load_at(topk_weights, {t, s})));
    }
  }
  return topk;
}

void run_routed_pipeline(const MoePlan& plan, TensorView hidden_states, TopK topk,
                         TensorView shared_output, const ExpertWeights& weights, TensorView output) {
  const int64_t num_tokens = topk.num_tokens;
  const int64_t top_k = topk.top_k;
  const int64_t hidden = hidden_states.size(1);
  const int64_t local_experts = plan.moe.local_experts();
  const int64_t num_rows = num_tokens * top_k;  // row_alignment 1: no padding rows
  const DType dtype = hidden_states.dtype;
  const size_t element_bytes = dtype_size(dtype);

  std::vector<int32_t> offsets(local_experts + 1), counts(local_experts), row_to_slot(num_rows);
  std::vector<int32_t> slot_to_row(num_rows);
  std::vector<uint8_t> permuted(static_cast<size_t>(num_rows * hidden) * element_bytes);
  std::vector<uint8_t> expert_out(permuted.size(), 0);

  DispatchMaps maps;
  maps.expert_offsets = make_view(offsets.data(), DType::kInt32, {local_experts + 1});
  maps.expert_counts = make_view(counts.data(), DType::kInt32, {local_experts});
  maps.row_to_slot = make_view(row_to_slot.data(), DType::kInt32, {num_rows});
  maps.slot_to_row = make_view(slot_to_row.data(), DType::kInt32, {num_tokens, top_k});
  const TensorView ids_view = make_view(topk.ids.data(), DType::kInt32, {num_tokens, top_k});
  const TensorView permuted_view = make_view(permuted.data(), dtype, {num_rows, hidden});
  dispatch(plan, ids_view, 1, maps, hidden_states, permuted_view, TensorView{});

  const bool weight_on_input = plan.moe.router_weight_apply == RouterWeightApply::kOnInput;
  for (int64_t row = 0; weight_on_input && row < num_rows; ++row) {
    const int32_t slot = row_to_slot[row];
    if (slot < 0) continue;
    const double weight = topk.weights[slot];
    for (int64_t h = 0; h < hidden; ++h) {
      const int64_t offset = element_offset(permuted_view, {row, h});
      store(permuted_view, offset, weight * load(permuted_view, offset));
    }
  }

  ExpertsInputs expert_inputs;
  expert_inputs.layout = ExpertInputLayout::kContiguous;
  expert_inputs.hidden_states = permuted_view;
  expert_inputs.expert_offsets = maps.expert_offsets;
  expert_inputs.expert_counts = maps.expert_counts;
  const TensorView expert_out_view = make_view(expert_out.data(), dtype, {num_rows, hidden});
  experts(plan, expert_inputs, weights, expert_out_view);

  CombineInputs combine_inputs;
  combine_inputs.expert_output = expert_out_view;
  combine_inputs.slot_to_row = maps.slot_to_row;
  if (!weight_on_input) {
    combine_inputs.topk_weights =
        make_view(topk.weights.data(), DType::kFloat32, {num_tokens, top_k});
  }
  combine_inputs.shared_output = shared_output;
  combine(plan, combine_inputs, output);
}

}  // namespace

void fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
           TensorView output) {
  const int64_t num_tokens = inputs.hidden_states.size(0);
  const int64_t top_k = plan.moe.top_k;
  std::vector<int32_t> ids(static_cast<size_t>(num_tokens * top_k));
  std::vector<float> topk_weights(ids.size());
  const TensorView ids_view = make_view(ids.data(), DType::kInt32, {num_tokens, top_k});
  const TensorView weights_view = make_view(topk_weights.data(), DType::kFloat32, {num_tokens, top_k});
  route(plan, inputs.routing, ids_view, weights_view);
  run_routed_pipeline(plan, inputs.hidden_states, read_topk(ids_view, weights_view), inputs.shared_output,
                      weights, output);
}

void routed(const MoePlan& plan, const RoutedInputs& inputs, const ExpertWeights& weights,
            TensorView output) {
  run_routed_pipeline(plan, inputs.hidden_states, read_topk(inputs.topk_ids, inputs.topk_weights),
                      inputs.shared_output, weights, output);
}

}  // namespace fusedmoe::reference
