// The checks between validation and a CUDA launch: the build has kernels for this entry point and
// configuration, and the tensors' device is the current device and an sm_90 GPU.
#pragma once

#include "fusedmoe/moe.h"

namespace fusedmoe::detail {

// Throws kUnsupported (no kernel, or the device is not sm_90) or kInvalidArgument (the tensors
// are not on the current device: kernels launch there, so cudaSetDevice must select it).
void check_cuda_entry(const MoeConfig& moe, const RoutingConfig& routing, EntryPoint entry,
                      const Device& device);

}  // namespace fusedmoe::detail
