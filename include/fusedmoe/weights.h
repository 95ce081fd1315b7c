// Expert weights as the caller holds them: views of the checkpoint tensors, local experts only.
//
// Shapes, with E_l = MoeConfig::local_experts(), N1 = 2I (gated) or I (non-gated):
//   format          w13                  w2                 w13_scale / w2_scale
//   kBF16           bf16 [E_l, N1, H]    bf16 [E_l, H, I]   -
//   kFP8PerTensor   e4m3 [E_l, N1, H]    e4m3 [E_l, H, I]   fp32 [E_l]
//   kFP8Block128    e4m3 [E_l, N1, H]    e4m3 [E_l, H, I]   fp32|ue8m0 [E_l, ceil(N1/128), ceil(H/128)]
//                                                           / [E_l, ceil(H/128), ceil(I/128)]
//   kMXFP4          fp4x2 [E_l, N1, H/2] fp4x2 [E_l, H, I/2] ue8m0 [E_l, N1, H/32] / [E_l, H, I/32]
//   kNVFP4          fp4x2 [E_l, N1, H/2] fp4x2 [E_l, H, I/2] e4m3 [E_l, N1, H/16] / [E_l, H, I/16]
//                   + w13_global_scale, w2_global_scale fp32 [E_l] (a multiplier: value =
//                     e2m1 * block_scale * global_scale)
// The last dimension (K) is contiguous. Gated w13 rows follow MoeConfig::gate_up_layout.
// Optional biases (gpt-oss): w13_bias [E_l, N1], w2_bias [E_l, H], fp32 or bf16, in w13's row order.
// Static FP8 activation scales (ActivationQuant::kFP8PerTensor): a1_scale, a2_scale fp32 [1] or
// [E_l]; they are dequantization multipliers (fp8 value * scale = real value).
#pragma once

#include "fusedmoe/types.h"

namespace fusedmoe {

// Which layout the weight tensors are in. Checkpoint layout is what every backend's reference
// accepts; GPU backends need their own prepared layout, made by prepare_weights().
enum class WeightLayout : int32_t {
  kCheckpoint = 0,
  kSm90Prepared = 1,
};

struct ExpertWeights {
  WeightLayout layout = WeightLayout::kCheckpoint;
  TensorView w13;
  TensorView w2;
  TensorView w13_scale;
  TensorView w2_scale;
  TensorView w13_global_scale;
  TensorView w2_global_scale;
  TensorView w13_bias;
  TensorView w2_bias;
  TensorView a1_scale;
  TensorView a2_scale;
};

}  // namespace fusedmoe
