// The grouped GEMM's tile instantiations (grouped_gemm_bf16_tile*.cu), one CUTLASS kernel each;
// grouped_gemm_bf16.cu picks one per call.
#pragma once

#include <cstddef>
#include <cstdint>

#include "gemm/sm90/grouped_gemm_bf16.h"

namespace fusedmoe::sm90 {

size_t grouped_gemm_bf16_64x128_workspace_bytes(int32_t num_groups);
void grouped_gemm_bf16_64x128(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                              Stream stream);
size_t grouped_gemm_bf16_128x128_workspace_bytes(int32_t num_groups);
void grouped_gemm_bf16_128x128(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                               Stream stream);
size_t grouped_gemm_bf16_256x128_workspace_bytes(int32_t num_groups);
void grouped_gemm_bf16_256x128(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                               Stream stream);

size_t grouped_gemm_bf16_128x256_workspace_bytes(int32_t num_groups);
void grouped_gemm_bf16_128x256(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                               Stream stream);
size_t grouped_gemm_bf16_64x256_workspace_bytes(int32_t num_groups);
void grouped_gemm_bf16_64x256(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                              Stream stream);

// GEMM1 with the activation in the epilogue (GroupedOutput::kActivation).
size_t grouped_gemm_bf16_64x256_activation_workspace_bytes(int32_t num_groups);
void grouped_gemm_bf16_64x256_activation(const GroupedGemmProblem& problem, void* workspace,
                                         size_t workspace_bytes, Stream stream);

}  // namespace fusedmoe::sm90
