// Launcher of the per-row weight multiply (sm90_scale_rows.cu).
#pragma once

#include <cuda_runtime_api.h>

#include "gemm/sm90/expert_rows.h"

namespace fusedmoe::sm90 {

struct ScaleRowsParams {
  ExpertRows rows;
  void* data = nullptr;  // bf16 or fp16 [rows, row_stride]
  bool half = false;     // fp16 data (else bf16)
  int64_t row_stride = 0;
  int64_t columns = 0;
  const void* weights = nullptr;
  bool weights_bf16 = false;
  const int32_t* row_to_slot = nullptr;  // optional: weight index per row
};

void launch_scale_rows(const ScaleRowsParams& params, cudaStream_t stream);

}  // namespace fusedmoe::sm90
