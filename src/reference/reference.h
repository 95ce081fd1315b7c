// CPU reference of every stage: the oracle every GPU kernel is tested against.
//
// Inputs are host tensors that the entry points have already validated (src/core/validate.h).
// Arithmetic accumulates in double; the rounding and quantization steps the GPU kernels take are
// applied at the same places (docs/NUMERICS.md lists them), so differences against a kernel are
// accumulation-order noise only.
#pragma once

#include "fusedmoe/moe.h"

namespace fusedmoe::reference {

void route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
           TensorView topk_weights);

void dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
              const DispatchMaps& maps, TensorView hidden_states, TensorView permuted_hidden,
              TensorView permuted_hidden_scale);

void experts(const MoePlan& plan, const ExpertsInputs& inputs, const ExpertWeights& weights,
             TensorView expert_output);

void combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output);

void fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
           TensorView output);

void routed(const MoePlan& plan, const RoutedInputs& inputs, const ExpertWeights& weights,
            TensorView output);

}  // namespace fusedmoe::reference
