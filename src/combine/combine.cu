// cuda::combine: unpacks the validated views of moe_combine and enqueues the deterministic
// combine kernel (src/combine/sm90_combine.cu). routed_scaling_factor is applied here and only here.
#include "combine/combine_kernels.h"
#include "core/cuda_backend.h"

namespace fusedmoe::cuda {

void combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output, Stream stream,
             CombineRows slot_rows) {
  CombineParams params;
  params.slot_rows = slot_rows;
  params.local_expert_offset = plan.moe.local_expert_offset;
  params.num_local_experts = plan.moe.local_experts();
  params.element = output.dtype == DType::kFloat16 ? CombineElement::kFloat16
                                                   : CombineElement::kBFloat16;
  params.expert_output = inputs.expert_output.data;
  params.expert_output_row_stride = inputs.expert_output.stride(0);
  params.rows = inputs.expert_output.size(0);
  if (slot_rows == CombineRows::kSlotOrder) {
    params.top_k_ids = inputs.slot_to_row.data;
    params.top_k_ids_int64 = inputs.slot_to_row.dtype == DType::kInt64;
  } else {
    params.slot_to_row = static_cast<const int32_t*>(inputs.slot_to_row.data);
  }
  params.slot_to_row_stride = inputs.slot_to_row.stride(0);
  if (inputs.topk_weights.defined()) {
    params.weights_dtype = inputs.topk_weights.dtype == DType::kBFloat16 ? CombineWeights::kBFloat16
                                                                         : CombineWeights::kFloat32;
    params.topk_weights = inputs.topk_weights.data;
    params.weights_row_stride = inputs.topk_weights.stride(0);
  }
  if (inputs.shared_output.defined()) {
    params.shared_output = inputs.shared_output.data;
    params.shared_row_stride = inputs.shared_output.stride(0);
  }
  params.output = output.data;
  params.output_row_stride = output.stride(0);
  params.num_tokens = static_cast<int32_t>(inputs.slot_to_row.size(0));
  params.top_k = static_cast<int32_t>(inputs.slot_to_row.size(1));
  params.hidden_size = static_cast<int32_t>(output.size(1));
  params.routed_scaling_factor = plan.routing.routed_scaling_factor;
  launch_combine(params, stream);
}

}  // namespace fusedmoe::cuda
