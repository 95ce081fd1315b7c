// Programmatic dependent launch (PDL) for the chains of small kernels around the expert GEMMs
// (route -> dispatch maps -> permute; combine after GEMM2). A kernel launched with
// launch_kernel() may start while the previous kernel on the stream is still running; it must
// call wait_for_previous_grid() before touching memory the previous kernel reads or writes, and
// calls allow_next_grid() so the next kernel's launch overlaps its own execution. This hides the
// few microseconds of launch latency per kernel that dominate decode-sized batches; it is legal
// inside CUDA graph capture (the edges become programmatic graph edges).
//
// FUSEDMOE_DISABLE_PDL=1 in the environment (read once) turns it off, for A/B timing and debugging.
#pragma once

#include <cuda_runtime.h>

#include <cstdlib>
#include <cstring>

#include "core/cuda_launch.h"

namespace fusedmoe::cuda {

// Waits until every kernel this one depends on has completed and its writes are visible. A no-op
// when the kernel was launched without the PDL attribute.
__device__ __forceinline__ void wait_for_previous_grid() {
  asm volatile("griddepcontrol.wait;" ::: "memory");
}

// Lets the next kernel on the stream start launching (it still waits for this grid to complete
// before its own wait_for_previous_grid() returns).
__device__ __forceinline__ void allow_next_grid() {
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
}

inline bool pdl_enabled() {
  static const bool enabled = [] {
    const char* value = std::getenv("FUSEDMOE_DISABLE_PDL");
    return value == nullptr || std::strcmp(value, "1") != 0;
  }();
  return enabled;
}

// Launches `kernel` on `stream` with the PDL attribute (when enabled) and checks the launch.
template <typename... KernelArgs, typename... Args>
void launch_kernel(const char* name, void (*kernel)(KernelArgs...), dim3 grid, dim3 block,
                   size_t shared_bytes, cudaStream_t stream, const Args&... args) {
  cudaLaunchConfig_t config{};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = shared_bytes;
  config.stream = stream;
  cudaLaunchAttribute attribute{};
  attribute.id = cudaLaunchAttributeProgrammaticStreamSerialization;
  attribute.val.programmaticStreamSerializationAllowed = 1;
  if (pdl_enabled()) {
    config.attrs = &attribute;
    config.numAttrs = 1;
  }
  cudaError_t status = cudaLaunchKernelEx(&config, kernel, args...);
  if (status != cudaSuccess && config.numAttrs > 0) {
    // A stream or driver that refuses the attribute still gets a correct, serialized launch.
    cudaGetLastError();
    config.attrs = nullptr;
    config.numAttrs = 0;
    status = cudaLaunchKernelEx(&config, kernel, args...);
  }
  if (status != cudaSuccess) {
    cudaGetLastError();
    throw Error(ErrorKind::kCuda, std::string("fusedmoe: CUDA launch of ") + name +
                                      " failed: " + cudaGetErrorString(status));
  }
  check_launch(name);
}

}  // namespace fusedmoe::cuda
