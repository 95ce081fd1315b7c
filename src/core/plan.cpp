// make_plan: validates the configuration and sizes the workspace. A plan for cuda-sm90 is made
// even when this build lacks kernels for some entry points (routing, dispatch and combine are
// usable without the expert GEMMs): each entry point reports kUnsupported with the reason, and
// query_support says it beforehand.
#include "core/cuda_backend.h"
#include "core/validate.h"

namespace fusedmoe {

MoePlan make_plan(const MoeConfig& moe, const RoutingConfig& routing, const PlanOptions& options) {
  detail::validate_config(moe, routing, options);
  MoePlan plan;
  plan.moe = moe;
  plan.routing = routing;
  plan.options = options;
  // The CPU reference allocates its own scratch; the GPU path never allocates in a call.
  plan.workspace_bytes =
      options.backend == Backend::kCudaSm90 ? cuda::workspace_bytes(plan) : size_t{0};
  return plan;
}

}  // namespace fusedmoe
