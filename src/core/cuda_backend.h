// The CUDA (sm_90a) backend as the entry points see it. Stage modules implement these functions
// in src/routing, src/dispatch, src/gemm/sm90, src/combine; src/core/api.cpp calls them after
// validation. Each function only enqueues work on `stream`: no sync, no allocation.
#pragma once

#include "combine/combine_kernels.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::cuda {

// Which entry points have kernels in this build for this configuration (reason when not).
Support supports(const MoeConfig& moe, const RoutingConfig& routing, EntryPoint entry);

// Workspace the CUDA backend needs for a plan (all entry points of that plan share it).
size_t workspace_bytes(const MoePlan& plan);
// Workspace of route / dispatch / combine on their own (the stages inside the fused pipeline).
size_t stage_workspace_bytes(const MoePlan& plan);

void route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
           TensorView topk_weights, Workspace workspace, Stream stream);
void dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
              const DispatchMaps& maps, TensorView hidden_states, TensorView permuted_hidden,
              TensorView permuted_hidden_scale, Workspace workspace, Stream stream);
// slot_rows kSlotOrder (the fused pipeline's decode path): inputs.slot_to_row holds the top-k
// ids (int32 or int64) and slot s of token t reads expert_output row t * top_k + s when its id
// is local.
void combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output, Stream stream,
             CombineRows slot_rows = CombineRows::kSlotToRow);
void experts(const MoePlan& plan, const ExpertsInputs& inputs, const ExpertWeights& weights,
             TensorView expert_output, Workspace workspace, Stream stream);
void fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
           TensorView output, Workspace workspace, Stream stream);
void routed(const MoePlan& plan, const RoutedInputs& inputs, const ExpertWeights& weights,
            TensorView output, Workspace workspace, Stream stream);
void prepare_weights(const MoeConfig& moe, ExpertWeights& weights, Workspace scratch,
                     Stream stream);
size_t prepare_scratch_bytes(const MoeConfig& moe);

}  // namespace fusedmoe::cuda
