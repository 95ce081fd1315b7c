// The fused and routed entries on CUDA as a composition of the stage entries:
//   route (fused only) -> dispatch (gather rows) -> expert compute -> combine.
// Every intermediate lives in the caller's workspace, carved at fixed offsets sized from the
// plan's max_num_tokens, so a captured graph replays on the same memory.
#pragma once

#include <cstddef>

#include "fusedmoe/moe.h"

namespace fusedmoe::cuda {

// Workspace of the fused/routed pipeline for this plan (0 when expert compute is unsupported).
size_t pipeline_workspace_bytes(const MoePlan& plan);

}  // namespace fusedmoe::cuda
