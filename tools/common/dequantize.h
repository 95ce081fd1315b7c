// Decodes one expert matrix of any weight format back to fp32 values (value x block scale x
// global scale), straight from the format definitions in core/host_numerics.h. The independent
// evaluation (exact_moe.h) and the tests use it; it shares no code with the reference's readers.
#pragma once

#include <vector>

#include "fusedmoe/config.h"
#include "fusedmoe/weights.h"

namespace fusedmoe::tools {

enum class ExpertMatrix { kW13, kW2 };

// Rows x cols of the matrix: w13 is [N1, H], w2 is [H, I] (N1 = 2I gated, I non-gated).
int64_t matrix_rows(const MoeConfig& moe, ExpertMatrix matrix);
int64_t matrix_cols(const MoeConfig& moe, ExpertMatrix matrix);

// Writes the local expert's matrix, row-major, into `out` (resized). Checkpoint layout, contiguous
// host tensors (what RandomLayer holds).
void dequantize_expert(const MoeConfig& moe, const ExpertWeights& weights, ExpertMatrix matrix,
                       int32_t local_expert, std::vector<float>& out);

}  // namespace fusedmoe::tools
