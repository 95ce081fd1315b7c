// CUDA runtime status checks for the toolkit's device code: a failure throws fusedmoe::Error
// (ErrorKind::kCuda) naming the call, so the command line reports it and exits with status 3.
#pragma once

#include <cuda_runtime_api.h>

#include <string>

#include "fusedmoe/error.h"

namespace fusedmoe::tools {

inline void check_cuda_call(cudaError_t status, const char* call) {
  if (status == cudaSuccess) return;
  throw Error(ErrorKind::kCuda,
              std::string("fusedmoe tool: ") + call + " failed: " + cudaGetErrorString(status));
}

// After a kernel launch: a bad configuration shows up here, a fault at the next synchronization.
inline void check_cuda_launch(const char* kernel) { check_cuda_call(cudaGetLastError(), kernel); }

}  // namespace fusedmoe::tools
