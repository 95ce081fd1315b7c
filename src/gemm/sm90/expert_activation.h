// Launcher of the between-GEMMs activation (sm90_expert_activation.cu).
#pragma once

#include <cuda_runtime_api.h>

#include "fusedmoe/config.h"
#include "gemm/sm90/expert_rows.h"
#include "prepare/bf16_w13_rows.h"

namespace fusedmoe::sm90 {

struct ExpertActivationParams {
  ExpertRows rows;
  const void* h = nullptr;  // bf16 [rows, h_row_stride]: GEMM1 output
  int64_t h_row_stride = 0;  // 2I gated, I non-gated
  void* a = nullptr;        // bf16 [rows, I]
  int64_t intermediate_size = 0;
  bool gated = true;
  GateUpRows layout = GateUpRows::kGateThenUp;  // where gate(f) / up(f) are among h's columns
  Activation activation = Activation::kSwiGLU;
  float alpha = 1.702f;
  float beta = 1.0f;
  float clamp_limit = 0.0f;  // +inf disables
};

void launch_expert_activation(const ExpertActivationParams& params, cudaStream_t stream);

}  // namespace fusedmoe::sm90
