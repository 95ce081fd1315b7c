// What the CUDA (sm_90a) backend can run in this build, and the workspace it needs.
//  * route, dispatch, combine: kernels in src/routing, src/dispatch, src/combine, for every
//    configuration validation accepts (E <= 1024, top_k <= 32, any RoutingMethod and grouping).
//  * experts, fused, routed, prepare: the sm90 expert GEMMs (src/gemm/sm90) — bf16 weights today;
//    bf16_experts_unsupported_reason() says why a configuration has no GPU path.
// Workspace: the stages alone need only the multi-tile dispatch histogram
// (max_num_tokens * top_k > kTileSlots); the fused/routed pipeline and the modular expert compute
// add their intermediates (src/core/cuda_pipeline.cpp, src/gemm/sm90/bf16_experts.cpp).
#include <algorithm>
#include <string>

#include "core/cuda_backend.h"
#include "core/cuda_pipeline.h"
#include "core/limits.h"
#include "gemm/sm90/bf16_experts.h"
#include "dispatch/dispatch_kernels.h"
#include "routing/routing_kernels.h"

namespace fusedmoe::cuda {

namespace {

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
  std::string reason = sm90::bf16_experts_unsupported_reason(moe);
  if (reason.empty() && entry != EntryPoint::kExperts && entry != EntryPoint::kPrepare &&
      moe.local_experts() > kMaxDispatchLocalExperts) {
    reason = "the fused pipeline dispatches at most " + std::to_string(kMaxDispatchLocalExperts) +
             " local experts; got " + std::to_string(moe.local_experts());
  }
  return Support{reason.empty(), reason};
}

size_t stage_workspace_bytes(const MoePlan& plan) {
  return dispatch_workspace_bytes(plan.options.max_num_tokens, plan.moe.top_k,
                                  plan.moe.local_experts());
}

size_t workspace_bytes(const MoePlan& plan) {
  size_t bytes = stage_workspace_bytes(plan);
  if (sm90::bf16_experts_unsupported_reason(plan.moe).empty()) {
    bytes = std::max(bytes, pipeline_workspace_bytes(plan));
    bytes = std::max(bytes, sm90::bf16_experts_workspace_bytes(plan.moe, detail::max_expert_rows(plan)));
  }
  return bytes;
}

}  // namespace fusedmoe::cuda
