// cuda::fused and cuda::routed: route -> dispatch -> experts -> combine, each stage through its
// own entry (src/routing, src/dispatch, src/gemm/sm90, src/combine); see cuda_pipeline.h.
//
// The router weight multiplies in combine (fp32, before the slot sum), or, for
// RouterWeightApply::kOnInput, the permuted expert input before GEMM1 (combine then sums with
// weight 1).
//
// Token rows reach the experts one of three ways (PlanOptions::token_gather): at decode sizes
// (at most kStreamingMaxTopkSlots slots, weight streaming) there is no dispatch kernel: the
// streaming GEMMs list every expert's slots from the top-k ids and store rows by slot; else
// dispatch builds the maps only and GEMM1 reads hidden_states by index through row_to_slot
// (weight streaming; the grouped tile where ExpertsPath::gemm1_reads_rows_by_index says so), or
// dispatch copies them into the permuted buffer (the other grouped tiles, weights on the input,
// TokenGather::kCopy). GEMM2 writes its rows into the permuted buffer either way, for combine.
#include "core/cuda_pipeline.h"

#include "core/check.h"
#include "core/cuda_backend.h"
#include "core/workspace_layout.h"
#include "gemm/sm90/bf16_experts.h"
#include "gemm/sm90/scale_rows.h"
#include "gemm/sm90/streaming_experts.h"

namespace fusedmoe::cuda {
namespace {

// Byte offsets of the pipeline's buffers inside the workspace, sized from max_num_tokens so the
// layout is the same for every call of a plan.
struct PipelineLayout {
  size_t topk_ids = 0, topk_weights = 0, expert_offsets = 0, expert_counts = 0;
  size_t row_to_slot = 0, slot_to_row = 0, stage_workspace = 0, permuted_hidden = 0;
  size_t experts_workspace = 0, total = 0;
  size_t stage_workspace_bytes = 0, experts_workspace_bytes = 0;
};

PipelineLayout pipeline_layout(const MoePlan& plan) {
  const MoeConfig& moe = plan.moe;
  const size_t slots = static_cast<size_t>(plan.options.max_num_tokens) * moe.top_k;
  const size_t local = static_cast<size_t>(moe.local_experts());
  PipelineLayout layout;
  detail::WorkspaceLayout regions;
  layout.topk_ids = regions.take(slots * sizeof(int32_t));
  layout.topk_weights = regions.take(slots * sizeof(float));
  layout.expert_offsets = regions.take((local + 1) * sizeof(int32_t));
  layout.expert_counts = regions.take(local * sizeof(int32_t));
  layout.row_to_slot = regions.take(slots * sizeof(int32_t));
  layout.slot_to_row = regions.take(slots * sizeof(int32_t));
  layout.stage_workspace_bytes = stage_workspace_bytes(plan);
  layout.stage_workspace = regions.take(layout.stage_workspace_bytes);
  layout.permuted_hidden = regions.take(slots * static_cast<size_t>(moe.hidden_size) * 2);
  layout.experts_workspace_bytes =
      sm90::bf16_experts_workspace_bytes(moe, static_cast<int64_t>(slots));
  layout.experts_workspace = regions.take(layout.experts_workspace_bytes);
  layout.total = regions.total();
  return layout;
}

class PipelineBuffers {
 public:
  PipelineBuffers(const MoePlan& plan, Workspace workspace, Device device)
      : layout_(pipeline_layout(plan)), base_(static_cast<char*>(workspace.data)), device_(device) {
    if (workspace.bytes < layout_.total) {
      detail::throw_invalid("workspace", "at least " + std::to_string(layout_.total) + " bytes",
                            std::to_string(workspace.bytes) + " bytes");
    }
  }
  const PipelineLayout& layout() const { return layout_; }
  void* at(size_t offset) const { return base_ + offset; }
  TensorView view(size_t offset, DType dtype, std::initializer_list<int64_t> shape) const {
    return make_view(at(offset), dtype, shape, device_);
  }

 private:
  PipelineLayout layout_;
  char* base_;
  Device device_;
};

// Dispatch -> experts -> combine, from ids and weights already in place.
void run_after_routing(const MoePlan& plan, const PipelineBuffers& buffers, TensorView hidden,
                       const ExpertWeights& weights, TensorView topk_ids, TensorView topk_weights,
                       TensorView shared_output, TensorView output, Stream stream) {
  const MoeConfig& moe = plan.moe;
  const int64_t tokens = hidden.shape[0];
  const int64_t rows = tokens * moe.top_k;
  const int64_t local = moe.local_experts();
  const PipelineLayout& layout = buffers.layout();

  DispatchMaps maps;
  maps.expert_offsets = buffers.view(layout.expert_offsets, DType::kInt32, {local + 1});
  maps.expert_counts = buffers.view(layout.expert_counts, DType::kInt32, {local});
  maps.row_to_slot = buffers.view(layout.row_to_slot, DType::kInt32, {rows});
  maps.slot_to_row = buffers.view(layout.slot_to_row, DType::kInt32, {tokens, moe.top_k});
  const TensorView permuted =
      buffers.view(layout.permuted_hidden, DType::kBFloat16, {rows, moe.hidden_size});

  sm90::ExpertRows expert_rows;
  expert_rows.layout = sm90::GroupRows::kOffsets;
  expert_rows.offsets = static_cast<const int32_t*>(maps.expert_offsets.data);
  expert_rows.num_experts = static_cast<int32_t>(local);
  expert_rows.max_rows = rows;

  const bool weight_on_input = moe.router_weight_apply == RouterWeightApply::kOnInput;
  const sm90::ExpertsPath path =
      sm90::bf16_experts_path(moe, expert_rows, weights, plan.options.expert_kernel, plan.options.tactic,
                              plan.options.gemm2_tactic);
  const bool gather_by_index =
      !weight_on_input && sm90::experts_path_reads_rows_by_index(path, plan.options.token_gather);
  // Decode: the weight-streaming kernels list each expert's slots from the ids themselves, so
  // there is no dispatch kernel; expert rows are stored by slot and combine reads them in order.
  const bool rows_from_ids = gather_by_index && path.kernel == ExpertKernel::kWeightStreaming &&
                             rows <= sm90::kStreamingMaxTopkSlots;
  if (rows_from_ids) {
    expert_rows.layout = sm90::GroupRows::kTopkIds;
    expert_rows.offsets = nullptr;
    expert_rows.topk_ids = topk_ids.data;
    expert_rows.topk_ids_int64 = topk_ids.dtype == DType::kInt64;
    expert_rows.topk_ids_row_stride = topk_ids.stride(0);
    expert_rows.top_k = moe.top_k;
    expert_rows.local_expert_offset = moe.local_expert_offset;
  } else {
    const Workspace stage_workspace{buffers.at(layout.stage_workspace), layout.stage_workspace_bytes};
    dispatch(plan, topk_ids, 1, maps, hidden, gather_by_index ? TensorView{} : permuted, TensorView{},
             stage_workspace, stream);
  }

  if (weight_on_input) {
    sm90::ScaleRowsParams scale;
    scale.rows = expert_rows;
    scale.data = permuted.data;
    scale.row_stride = moe.hidden_size;
    scale.columns = moe.hidden_size;
    scale.weights = topk_weights.data;
    scale.weights_bf16 = topk_weights.dtype == DType::kBFloat16;
    scale.row_to_slot = static_cast<const int32_t*>(maps.row_to_slot.data);
    sm90::launch_scale_rows(scale, stream);
  }

  // GEMM2 writes its rows over the permuted input (if any), which GEMM1 has consumed by then.
  sm90::Bf16ExpertsCall call;
  call.kernel = plan.options.expert_kernel;
  call.tactic = plan.options.tactic;
  call.gemm2_tactic = plan.options.gemm2_tactic;
  call.path = path;
  call.rows = expert_rows;
  call.x = permuted.data;
  call.out = permuted.data;
  if (gather_by_index) {
    call.x = hidden.data;
    call.x_row_stride = hidden.stride(0);
    call.x_slots = rows_from_ids ? nullptr : static_cast<const int32_t*>(maps.row_to_slot.data);
    call.x_slots_top_k = moe.top_k;
  }
  sm90::run_bf16_experts(moe, weights, call, buffers.at(layout.experts_workspace),
                         layout.experts_workspace_bytes, stream);

  CombineInputs combine_inputs;
  combine_inputs.expert_output = permuted;
  combine_inputs.slot_to_row = rows_from_ids ? topk_ids : maps.slot_to_row;
  if (!weight_on_input) combine_inputs.topk_weights = topk_weights;
  combine_inputs.shared_output = shared_output;
  combine(plan, combine_inputs, output, stream,
          rows_from_ids ? CombineRows::kSlotOrder : CombineRows::kSlotToRow);
}

// Everything that could refuse the call is checked before the first launch.
void check_pipeline_supported(const MoePlan& plan, const TensorView& hidden,
                              const ExpertWeights& weights) {
  std::string reason = sm90::bf16_experts_unsupported_reason(plan.moe);
  if (reason.empty()) reason = sm90::bf16_weights_unsupported_reason(weights, plan.options.expert_kernel);
  if (!reason.empty()) detail::throw_unsupported(reason);
  if (hidden.dtype != DType::kBFloat16) {
    detail::throw_unsupported(std::string("sm90 expert GEMMs take bf16 hidden_states; got ") +
                              dtype_name(hidden.dtype));
  }
}

}  // namespace

size_t pipeline_workspace_bytes(const MoePlan& plan) {
  if (!sm90::bf16_experts_unsupported_reason(plan.moe).empty()) return 0;
  return pipeline_layout(plan).total;
}

void fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
           TensorView output, Workspace workspace, Stream stream) {
  check_pipeline_supported(plan, inputs.hidden_states, weights);
  const PipelineBuffers buffers(plan, workspace, inputs.hidden_states.device);
  const int64_t tokens = inputs.hidden_states.shape[0];
  const TensorView topk_ids =
      buffers.view(buffers.layout().topk_ids, DType::kInt32, {tokens, plan.moe.top_k});
  const TensorView topk_weights =
      buffers.view(buffers.layout().topk_weights, DType::kFloat32, {tokens, plan.moe.top_k});
  const Workspace stage_workspace{buffers.at(buffers.layout().stage_workspace),
                                  buffers.layout().stage_workspace_bytes};
  route(plan, inputs.routing, topk_ids, topk_weights, stage_workspace, stream);
  run_after_routing(plan, buffers, inputs.hidden_states, weights, topk_ids, topk_weights,
                    inputs.shared_output, output, stream);
}

void routed(const MoePlan& plan, const RoutedInputs& inputs, const ExpertWeights& weights,
            TensorView output, Workspace workspace, Stream stream) {
  check_pipeline_supported(plan, inputs.hidden_states, weights);
  const PipelineBuffers buffers(plan, workspace, inputs.hidden_states.device);
  run_after_routing(plan, buffers, inputs.hidden_states, weights, inputs.topk_ids,
                    inputs.topk_weights, inputs.shared_output, output, stream);
}

}  // namespace fusedmoe::cuda
