// A scalar read from a tensor that may be fp32 or bf16 (router bias, router weights per row,
// expert biases), widened to float. Shared by the routing and expert kernels.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace fusedmoe::cuda {

__device__ __forceinline__ float load_scalar(const void* data, bool is_bf16, int64_t index) {
  return is_bf16 ? __bfloat162float(static_cast<const __nv_bfloat16*>(data)[index])
                 : static_cast<const float*>(data)[index];
}

}  // namespace fusedmoe::cuda
