// What the CUDA (sm_90a) backend can run in this build, and the workspace it needs.
//  * route, dispatch, combine: kernels in src/routing, src/dispatch, src/combine, for every
//    configuration validation accepts (E <= 1024, top_k <= 32, any RoutingMethod and grouping).
//  * experts, fused, routed, prepare: no expert GEMM yet (src/core/cuda_backend.cpp throws the
//    same reason).
// Workspace: only multi-tile dispatch (max_num_tokens * top_k > kTileSlots) needs scratch, the
// per-tile expert histogram; routing and combine need none.
#include <string>

#include "core/cuda_backend.h"
#include "dispatch/dispatch_kernels.h"
#include "routing/routing_kernels.h"

namespace fusedmoe::cuda {

namespace {

// Same text as cuda_backend.cpp's missing_gemm_reason (kept in step until the GEMMs land).
std::string gemm_unsupported_reason(const MoeConfig& moe) {
  return std::string("no sm90 expert GEMM kernel for weight format '") +
         weight_format_name(moe.weight_format) +
         "' in this build yet (expert compute on CUDA lands with the BF16/FP8/FP4 GEMM work); "
         "the CPU reference (Backend::kCpuReference) runs every format";
}

}  // namespace

Support supports(const MoeConfig& moe, const RoutingConfig&, EntryPoint entry) {
  switch (entry) {
    case EntryPoint::kRoute:
      if (!topk_routing_supports(moe.num_experts, moe.top_k)) {
        return Support{false, "CUDA routing needs 1 <= top_k <= min(32, num_experts) and "
                              "num_experts <= 1024; got num_experts = " +
                                  std::to_string(moe.num_experts) +
                                  ", top_k = " + std::to_string(moe.top_k)};
      }
      return Support{true, ""};
    case EntryPoint::kDispatch:
      if (moe.local_experts() > kMaxDispatchLocalExperts) {
        return Support{false, "CUDA dispatch handles at most " +
                                  std::to_string(kMaxDispatchLocalExperts) + " local experts; got " +
                                  std::to_string(moe.local_experts())};
      }
      return Support{true, ""};
    case EntryPoint::kCombine:
      return Support{true, ""};
    case EntryPoint::kExperts:
    case EntryPoint::kFused:
    case EntryPoint::kRouted:
    case EntryPoint::kPrepare:
      break;
  }
  return Support{false, gemm_unsupported_reason(moe)};
}

size_t workspace_bytes(const MoePlan& plan) {
  return dispatch_workspace_bytes(plan.options.max_num_tokens, plan.moe.top_k,
                                  plan.moe.local_experts());
}

}  // namespace fusedmoe::cuda
