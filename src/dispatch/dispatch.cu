// cuda::dispatch: unpacks the validated views of moe_dispatch and sequences the dispatch kernels
// (see dispatch_kernels.h). Everything is enqueued on `stream`; the only scratch memory is the
// multi-tile histogram in the caller's workspace, sized by dispatch_workspace_bytes() from
// plan.options.max_num_tokens.
#include <algorithm>
#include <string>

#include "core/check.h"
#include "core/cuda_backend.h"
#include "core/cuda_launch.h"
#include "dispatch/dispatch_kernels.h"

namespace fusedmoe::cuda {

size_t dispatch_workspace_bytes(int64_t max_tokens, int32_t top_k, int32_t local_experts) {
  const int64_t slots = std::max<int64_t>(max_tokens, 0) * top_k;
  if (slots <= kTileSlots) return 0;  // one tile: everything stays in shared memory
  return static_cast<size_t>(dispatch_num_tiles(slots)) * local_experts * sizeof(int32_t);
}

void dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
              const DispatchMaps& maps, TensorView hidden_states, TensorView permuted_hidden,
              TensorView permuted_hidden_scale, Workspace workspace, Stream stream) {
  const int32_t local_experts = plan.moe.local_experts();
  if (local_experts > kMaxDispatchLocalExperts) {
    detail::throw_unsupported("CUDA dispatch handles at most " +
                              std::to_string(kMaxDispatchLocalExperts) + " local experts");
  }
  DispatchMapsParams maps_params;
  maps_params.topk_ids = topk_ids.data;
  maps_params.ids_int64 = topk_ids.dtype == DType::kInt64;
  maps_params.ids_row_stride = topk_ids.stride(0);
  maps_params.num_tokens = static_cast<int32_t>(topk_ids.size(0));
  maps_params.top_k = plan.moe.top_k;
  maps_params.first_expert = plan.moe.local_expert_offset;
  maps_params.local_experts = local_experts;
  maps_params.row_alignment = row_alignment;
  maps_params.expert_offsets = static_cast<int32_t*>(maps.expert_offsets.data);
  maps_params.expert_counts = static_cast<int32_t*>(maps.expert_counts.data);
  maps_params.row_to_slot = static_cast<int32_t*>(maps.row_to_slot.data);
  maps_params.slot_to_row = static_cast<int32_t*>(maps.slot_to_row.data);
  maps_params.slot_to_row_stride = maps.slot_to_row.stride(0);
  const int64_t rows = maps.row_to_slot.size(0);
  const int64_t slots = static_cast<int64_t>(maps_params.num_tokens) * maps_params.top_k;

  const bool gather = permuted_hidden.defined();
  if (slots <= kTileSlots) {
    const bool fill_in_maps_kernel = !gather && rows <= kSingleTileFillRows;
    if (fill_in_maps_kernel) maps_params.fill_rows = static_cast<int32_t>(rows);
    launch_dispatch_maps_single_tile(maps_params, stream);
    if (fill_in_maps_kernel) return;
  } else {
    const size_t needed = dispatch_workspace_bytes(maps_params.num_tokens, maps_params.top_k,
                                                   local_experts);
    if (workspace.bytes < needed || workspace.data == nullptr) {
      detail::throw_invalid("workspace.bytes",
                            "at least " + std::to_string(needed) + " for " +
                                std::to_string(maps_params.num_tokens) + " tokens",
                            std::to_string(workspace.bytes));
    }
    maps_params.tile_counts = static_cast<int32_t*>(workspace.data);
    launch_expert_tile_histogram(maps_params, stream);
    launch_expert_offsets_scan(maps_params, stream);
    launch_dispatch_maps_scatter(maps_params, stream);
  }

  // Unused rows: row_to_slot = -1; when gathering, token rows copied and segment padding zeroed.
  // The tail past the last segment keeps whatever permuted_hidden held.
  PermuteRowsParams permute;
  permute.gather = gather;
  permute.hidden = hidden_states.data;
  permute.element = hidden_states.dtype == DType::kFloat16 ? PermuteElement::kFloat16
                                                           : PermuteElement::kBFloat16;
  permute.hidden_row_stride = hidden_states.stride(0);
  permute.permuted = permuted_hidden.data;
  permute.permuted_row_stride = permute.gather ? permuted_hidden.stride(0) : 0;
  if (permute.gather && permuted_hidden.dtype == DType::kFloat8E4M3) {
    permute.quantize = plan.moe.activation_quant;
    permute.scale_format = plan.moe.activation_scale_format;
    permute.scales = static_cast<float*>(permuted_hidden_scale.data);
    permute.scales_row_stride =
        permuted_hidden_scale.ndim >= 2 ? permuted_hidden_scale.stride(0) : 1;
  }
  permute.num_tokens = maps_params.num_tokens;
  permute.top_k = maps_params.top_k;
  permute.hidden_size = permute.gather ? static_cast<int32_t>(permuted_hidden.size(1)) : 0;
  permute.rows = static_cast<int32_t>(rows);
  permute.local_experts = local_experts;
  permute.row_alignment = row_alignment;
  permute.expert_offsets = maps_params.expert_offsets;
  permute.expert_counts = maps_params.expert_counts;
  permute.slot_to_row = maps_params.slot_to_row;
  permute.slot_to_row_stride = maps_params.slot_to_row_stride;
  permute.row_to_slot = maps_params.row_to_slot;
  launch_permute_rows(permute, stream);
}

}  // namespace fusedmoe::cuda
