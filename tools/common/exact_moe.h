// An independent evaluation of an MoE layer in double precision, written from the semantics in
// fusedmoe/config.h rather than from the reference's code: routing, then each routed expert on the
// stored (dequantized) weights with *unquantized* activations, then the weighted sum times
// routed_scaling_factor. It is what the layer means mathematically; the library (reference and
// kernels) additionally rounds activations to bf16 / quantizes them to fp8, so the two differ by
// that quantization error, which the tool reports.
#pragma once

#include <cstdint>
#include <vector>

#include "fusedmoe/moe.h"

namespace fusedmoe::tools {

struct ExactRouting {
  int32_t num_tokens = 0;
  int32_t top_k = 0;
  std::vector<int32_t> ids;      // [M, top_k] global ids
  std::vector<double> weights;   // [M, top_k], without routed_scaling_factor
};

// Routing in double from the logits (fp32 or bf16) and optional biases, per the logit contract
// of docs/NUMERICS.md: logit + bias in fp32, NaN -> -inf, +inf -> FLT_MAX; ties go to the lower
// id; a row with nothing finite gets weight 0 on every slot.
ExactRouting route_exact(const MoeConfig& moe, const RoutingConfig& routing,
                         const RoutingInputs& inputs);

struct ExactOutput {
  std::vector<double> output;     // [M, H]
  double intermediate_amax = 0.0; // largest |activation output| fed to GEMM2 (fp8 calibration)
  int64_t local_rows = 0;         // (token, slot) pairs that hit a local expert
};

// Local experts only (EP): ids outside [offset, offset + E_l) and -1 contribute nothing.
ExactOutput moe_exact(const MoeConfig& moe, const RoutingConfig& routing, TensorView hidden_states,
                      const ExactRouting& routing_result, const ExpertWeights& weights);

// The activation of one output element in double (gated: from gate and up; non-gated: from x).
double activate_exact(const MoeConfig& moe, double gate_or_x, double up);

}  // namespace fusedmoe::tools
