// The public entry points: validate everything, then run the CPU reference for host tensors or
// the sm_90a kernels for CUDA tensors. Nothing is launched before validation has passed.
#include "core/check.h"
#include "core/cuda_backend.h"
#include "core/cuda_entry.h"
#include "core/validate.h"
#include "reference/reference.h"

namespace fusedmoe {

namespace {
bool on_cpu(const Device& device) { return device.type == DeviceType::kCPU; }
}  // namespace

void moe_route(const MoePlan& plan, const RoutingInputs& inputs, TensorView topk_ids,
               TensorView topk_weights, Workspace workspace, Stream stream) {
  const Device device = detail::validate_route(plan, inputs, topk_ids, topk_weights, workspace);
  if (on_cpu(device)) {
    reference::route(plan, inputs, topk_ids, topk_weights);
    return;
  }
  detail::check_cuda_entry(plan.moe, plan.routing, EntryPoint::kRoute, device);
  cuda::route(plan, inputs, topk_ids, topk_weights, workspace, stream);
}

void moe_dispatch(const MoePlan& plan, TensorView topk_ids, int32_t row_alignment,
                  const DispatchMaps& maps, TensorView hidden_states, TensorView permuted_hidden,
                  TensorView permuted_hidden_scale, Workspace workspace, Stream stream) {
  const Device device =
      detail::validate_dispatch(plan, topk_ids, row_alignment, maps, hidden_states, permuted_hidden,
                                permuted_hidden_scale, workspace);
  if (on_cpu(device)) {
    reference::dispatch(plan, topk_ids, row_alignment, maps, hidden_states, permuted_hidden,
                        permuted_hidden_scale);
    return;
  }
  detail::check_cuda_entry(plan.moe, plan.routing, EntryPoint::kDispatch, device);
  cuda::dispatch(plan, topk_ids, row_alignment, maps, hidden_states, permuted_hidden,
                 permuted_hidden_scale, workspace, stream);
}

void moe_experts(const MoePlan& plan, const ExpertsInputs& inputs, const ExpertWeights& weights,
                 TensorView expert_output, Workspace workspace, Stream stream) {
  const Device device = detail::validate_experts(plan, inputs, weights, expert_output, workspace);
  if (on_cpu(device)) {
    reference::experts(plan, inputs, weights, expert_output);
    return;
  }
  detail::check_cuda_entry(plan.moe, plan.routing, EntryPoint::kExperts, device);
  cuda::experts(plan, inputs, weights, expert_output, workspace, stream);
}

void moe_combine(const MoePlan& plan, const CombineInputs& inputs, TensorView output,
                 Stream stream) {
  const Device device = detail::validate_combine(plan, inputs, output);
  if (on_cpu(device)) {
    reference::combine(plan, inputs, output);
    return;
  }
  detail::check_cuda_entry(plan.moe, plan.routing, EntryPoint::kCombine, device);
  cuda::combine(plan, inputs, output, stream);
}

void moe_fused(const MoePlan& plan, const FusedInputs& inputs, const ExpertWeights& weights,
               TensorView output, Workspace workspace, Stream stream) {
  const Device device = detail::validate_fused(plan, inputs, weights, output, workspace);
  if (on_cpu(device)) {
    reference::fused(plan, inputs, weights, output);
    return;
  }
  detail::check_cuda_entry(plan.moe, plan.routing, EntryPoint::kFused, device);
  cuda::fused(plan, inputs, weights, output, workspace, stream);
}

void moe_routed(const MoePlan& plan, const RoutedInputs& inputs, const ExpertWeights& weights,
                TensorView output, Workspace workspace, Stream stream) {
  const Device device = detail::validate_routed(plan, inputs, weights, output, workspace);
  if (on_cpu(device)) {
    reference::routed(plan, inputs, weights, output);
    return;
  }
  detail::check_cuda_entry(plan.moe, plan.routing, EntryPoint::kRouted, device);
  cuda::routed(plan, inputs, weights, output, workspace, stream);
}

size_t prepare_scratch_bytes(const MoeConfig& moe, Backend backend) {
  detail::validate_moe_config(moe, "moe.");
  detail::check_enum(backend, "backend", "Backend", Backend::kCudaSm90);
  return backend == Backend::kCudaSm90 ? cuda::prepare_scratch_bytes(moe) : size_t{0};
}

void prepare_weights(const MoeConfig& moe, Backend backend, ExpertWeights& weights,
                     Workspace scratch, Stream stream) {
  const Device device = detail::validate_prepare(moe, backend, weights, scratch);
  // The reference reads checkpoint layout: validated weights are ready as they are.
  if (on_cpu(device)) return;
  detail::check_cuda_entry(moe, RoutingConfig{}, EntryPoint::kPrepare, device);
  cuda::prepare_weights(moe, weights, scratch, stream);
}

}  // namespace fusedmoe
