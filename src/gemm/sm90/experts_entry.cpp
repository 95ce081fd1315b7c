// cuda::experts: the modular expert-compute entry on sm_90a. Unpacks the validated views into a
// Bf16ExpertsCall (contiguous rows with offsets, or masked slabs with counts) and runs it.
#include "core/check.h"
#include "core/cuda_backend.h"
#include "gemm/sm90/bf16_experts.h"

namespace fusedmoe::cuda {

void experts(const MoePlan& plan, const ExpertsInputs& inputs, const ExpertWeights& weights,
             TensorView expert_output, Workspace workspace, Stream stream) {
  const MoeConfig& moe = plan.moe;
  if (inputs.hidden_states.dtype != DType::kBFloat16) {
    detail::throw_unsupported(std::string("sm90 expert GEMMs take bf16 hidden_states; got ") +
                              dtype_name(inputs.hidden_states.dtype));
  }
  // The grouped GEMM addresses rows with a packed stride.
  detail::check_contiguous(inputs.hidden_states, "inputs.hidden_states");
  detail::check_contiguous(expert_output, "expert_output");

  sm90::Bf16ExpertsCall call;
  call.kernel = plan.options.expert_kernel;
  call.tactic = plan.options.tactic;
  call.gemm2_tactic = plan.options.gemm2_tactic;
  call.rows.num_experts = moe.local_experts();
  if (inputs.layout == ExpertInputLayout::kContiguous) {
    call.rows.layout = sm90::GroupRows::kOffsets;
    call.rows.offsets = static_cast<const int32_t*>(inputs.expert_offsets.data);
    call.rows.max_rows = inputs.hidden_states.shape[0];
  } else {
    call.rows.layout = sm90::GroupRows::kMasked;
    call.rows.counts = static_cast<const int32_t*>(inputs.expert_counts.data);
    call.rows.capacity = inputs.hidden_states.shape[1];
    call.rows.max_rows = inputs.hidden_states.shape[0] * inputs.hidden_states.shape[1];
  }
  call.x = inputs.hidden_states.data;
  call.out = expert_output.data;
  if (inputs.row_weights.defined()) {
    call.row_weights = inputs.row_weights.data;
    call.row_weights_bf16 = inputs.row_weights.dtype == DType::kBFloat16;
  }
  sm90::run_bf16_experts(moe, weights, call, workspace.data, workspace.bytes, stream);
}

}  // namespace fusedmoe::cuda
