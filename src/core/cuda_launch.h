// Launch checking shared by the CUDA stage modules (routing, dispatch, combine): every kernel
// launch is followed by check_launch(), which turns a launch error into fusedmoe::Error kCuda
// naming the kernel. cudaGetLastError() does not synchronize, so this is safe inside graph capture.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "fusedmoe/error.h"

namespace fusedmoe::cuda {

inline void check_launch(const char* kernel_name) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess) {
    throw Error(ErrorKind::kCuda, std::string("fusedmoe: CUDA launch of ") + kernel_name +
                                      " failed: " + cudaGetErrorString(status));
  }
}

inline void check_cuda(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw Error(ErrorKind::kCuda,
                std::string("fusedmoe: ") + what + " failed: " + cudaGetErrorString(status));
  }
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace fusedmoe::cuda
