// Expert weight checks shared by the entry points that read weights (experts, fused, routed) and
// by prepare_weights. Shapes follow the table in include/fusedmoe/weights.h.
#pragma once

#include "core/call_checker.h"
#include "fusedmoe/moe.h"

namespace fusedmoe::detail {

// The layout `backend`'s expert compute reads: the CPU reference reads checkpoint layout, the
// sm90 kernels read what prepare_weights produced.
WeightLayout compute_layout(Backend backend);

// Checks every weight tensor against `moe` on the checker's device. `expected_layout` is the
// layout this call needs (compute_layout, or kCheckpoint for prepare_weights).
void validate_weights(CallChecker& checker, const MoeConfig& moe, const ExpertWeights& weights,
                      WeightLayout expected_layout);

}  // namespace fusedmoe::detail
