// cuda::route: unpacks the validated views of moe_route and enqueues the top-k routing kernel
// (src/routing/sm90_topk_routing.cu). No sync, no allocation; the workspace is not needed.
#include "core/check.h"
#include "core/cuda_backend.h"
#include "routing/routing_kernels.h"

namespace fusedmoe::cuda {

void route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
           TensorView topk_weights, Workspace, Stream stream) {
  if (!topk_routing_supports(plan.moe.num_experts, plan.moe.top_k)) {
    detail::throw_unsupported("CUDA routing needs 1 <= top_k <= min(32, num_experts) and "
                              "num_experts <= 1024");
  }
  TopKRoutingParams params;
  params.logits = inputs.router_logits.data;
  params.logits_bf16 = inputs.router_logits.dtype == DType::kBFloat16;
  params.logits_row_stride = inputs.router_logits.stride(0);
  if (inputs.logits_bias.defined()) {
    params.logits_bias = inputs.logits_bias.data;
    params.logits_bias_bf16 = inputs.logits_bias.dtype == DType::kBFloat16;
  }
  if (inputs.correction_bias.defined()) {
    params.correction_bias = inputs.correction_bias.data;
    params.correction_bias_bf16 = inputs.correction_bias.dtype == DType::kBFloat16;
  }
  params.num_tokens = static_cast<int32_t>(inputs.router_logits.size(0));
  params.num_experts = plan.moe.num_experts;
  params.top_k = plan.moe.top_k;
  params.method = plan.routing.method;
  params.renormalize = plan.routing.renormalize;
  params.n_group = plan.routing.n_group;
  params.topk_group = plan.routing.topk_group;
  params.topk_ids = static_cast<int32_t*>(topk_ids.data);
  params.ids_row_stride = topk_ids.stride(0);
  params.topk_weights = static_cast<float*>(topk_weights.data);
  params.weights_row_stride = topk_weights.stride(0);
  if (inputs.routed_experts_out.defined()) {
    params.routed_experts_out = inputs.routed_experts_out.data;
    params.routed_experts_int16 = inputs.routed_experts_out.dtype == DType::kInt16;
    params.routed_experts_row_stride = inputs.routed_experts_out.stride(0);
  }
  launch_topk_routing(params, stream);
}

}  // namespace fusedmoe::cuda
