// The BF16 expert tests' layer on the GPU (tests/gpu/core, tests/gpu/gemm/sm90): a seeded random
// layer of a real model shape (H and I kept; expert counts reduced where generating every expert on
// the host would take too long) uploaded with prepared weights, helpers to run each entry point on
// it with poisoned outputs (0xFF bytes: NaN in bf16), and the comparison with the CPU reference.
//
// End-to-end comparisons use the GPU's own routing decisions: the reference runs moe_routed with
// the ids and weights moe_route produced on the GPU, so a near-tie in routing cannot decide a test.
#pragma once

#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <string>
#include <vector>

#include "common/device_memory.h"
#include "common/host_buffer.h"
#include "common/layer_runner.h"
#include "common/metrics.h"
#include "common/presets.h"
#include "common/random_layer.h"
#include "common/weight_formats.h"
#include "gpu/gpu_test_common.h"

namespace fusedmoe::testing {


using tools::DeviceTensors;
using tools::RandomLayer;

inline void check(cudaError_t status, const char* what) {
  ASSERT_EQ(status, cudaSuccess) << what << ": " << cudaGetErrorString(status);
}

struct LayerCase {
  std::string model;
  int32_t tensor_parallel = 1;
  int32_t num_experts = 0;  // 0: the preset's count
  int32_t tokens = 1;
  int32_t hidden_size = 0;        // 0: the preset's
  int32_t intermediate_size = 0;  // 0: the preset's (after TP)
  int32_t gate_up_layout = -1;    // -1: the preset's GateUpLayout
};

inline std::string case_name(const LayerCase& layer_case) {
  std::string name = layer_case.model + "_tp" + std::to_string(layer_case.tensor_parallel) + "_E" +
                     std::to_string(layer_case.num_experts) + "_M" + std::to_string(layer_case.tokens);
  if (layer_case.hidden_size > 0) name += "_H" + std::to_string(layer_case.hidden_size);
  if (layer_case.intermediate_size > 0) name += "_I" + std::to_string(layer_case.intermediate_size);
  if (layer_case.gate_up_layout >= 0) name += "_layout" + std::to_string(layer_case.gate_up_layout);
  return name;
}

inline std::string kernel_label(ExpertKernel kernel) {
  std::string label = expert_kernel_name(kernel);
  for (char& c : label) {
    if (c == '-') c = '_';
  }
  return label;
}

inline tools::LayerSpec bf16_spec(const LayerCase& layer_case, int32_t ep = 1, int32_t ep_rank = 0) {
  tools::Parallelism parallelism;
  parallelism.tp = layer_case.tensor_parallel;
  tools::LayerSpec spec = tools::slice_preset(tools::find_preset(layer_case.model), parallelism);
  if (layer_case.num_experts > 0) spec.moe.num_experts = layer_case.num_experts;
  if (layer_case.hidden_size > 0) spec.moe.hidden_size = layer_case.hidden_size;
  if (layer_case.intermediate_size > 0) spec.moe.intermediate_size = layer_case.intermediate_size;
  if (layer_case.gate_up_layout >= 0) {
    spec.moe.gate_up_layout = static_cast<GateUpLayout>(layer_case.gate_up_layout);
  }
  spec.moe.num_local_experts = spec.moe.num_experts / ep;
  spec.moe.local_expert_offset = ep_rank * spec.moe.num_local_experts;
  tools::apply_weight_format(spec.moe, WeightFormat::kBF16);
  return spec;
}

// A layer on the GPU: inputs, prepared weights, workspace, and helpers to run each entry point.
class GpuLayer {
 public:
  GpuLayer(const RandomLayer& layer, int32_t max_tokens, ExpertKernel kernel = ExpertKernel::kAuto,
           int32_t tactic = -1, TokenGather token_gather = TokenGather::kAuto, int32_t gemm2_tactic = -1)
      : layer_(layer), tensors_(0) {
    PlanOptions options;
    options.backend = Backend::kCudaSm90;
    options.max_num_tokens = max_tokens;
    options.expert_kernel = kernel;
    options.tactic = tactic;
    options.token_gather = token_gather;
    options.gemm2_tactic = gemm2_tactic;
    plan_ = make_plan(layer.moe(), layer.spec().routing, options);
    hidden_ = tensors_.upload(layer.hidden_states());
    const RoutingInputs host_routing = layer.routing_inputs();
    routing_.router_logits = tensors_.upload(host_routing.router_logits);
    routing_.correction_bias = tensors_.upload(host_routing.correction_bias);
    routing_.logits_bias = tensors_.upload(host_routing.logits_bias);
    weights_ = tensors_.upload(layer.weights());
    const size_t scratch = prepare_scratch_bytes(layer.moe(), Backend::kCudaSm90);
    prepare_weights(layer.moe(), Backend::kCudaSm90, weights_,
                    Workspace{tensors_.scratch(scratch), scratch}, nullptr);
    workspace_ = Workspace{tensors_.scratch(plan_.workspace_bytes), plan_.workspace_bytes};
    const int64_t tokens = layer.num_tokens();
    output_ = tensors_.allocate(DType::kBFloat16, {tokens, layer.moe().hidden_size});
    ids_ = tensors_.allocate(DType::kInt32, {tokens, layer.moe().top_k});
    topk_weights_ = tensors_.allocate(DType::kFloat32, {tokens, layer.moe().top_k});
  }

  const MoePlan& plan() const { return plan_; }
  TensorView hidden() const { return hidden_; }
  const RoutingInputs& routing() const { return routing_; }
  const ExpertWeights& weights() const { return weights_; }
  Workspace workspace() const { return workspace_; }
  TensorView output() const { return output_; }

  void poison(const TensorView& view) const {
    check(cudaMemset(view.data, 0xff, static_cast<size_t>(view.numel()) * dtype_size(view.dtype)),
          "cudaMemset");
    // cudaMemset is asynchronous on the legacy stream, which does not order a non-blocking
    // stream a test may launch on next.
    check(cudaDeviceSynchronize(), "poison");
  }

  // moe_route on the GPU; returns the decisions on the host.
  tools::RoutedIds route() {
    poison(ids_);
    poison(topk_weights_);
    moe_route(plan_, routing_, ids_, topk_weights_, workspace_, nullptr);
    tools::RoutedIds routed;
    routed.ids.resize(static_cast<size_t>(ids_.numel()));
    routed.weights.resize(static_cast<size_t>(topk_weights_.numel()));
    tools::copy_to_host(ids_, routed.ids.data());
    tools::copy_to_host(topk_weights_, routed.weights.data());
    return routed;
  }

  // hidden_states as rows of a wider buffer (row stride hidden_size + extra_columns, the extra
  // columns NaN), so a kernel that assumes packed rows reads NaN.
  void use_strided_hidden(int64_t extra_columns) {
    const int64_t tokens = hidden_.shape[0];
    const int64_t columns = hidden_.shape[1];
    const int64_t stride = columns + extra_columns;
    const TensorView wide = tensors_.allocate(DType::kBFloat16, {tokens, stride});
    poison(wide);
    check(cudaMemcpy2D(wide.data, static_cast<size_t>(stride) * 2, hidden_.data,
                       static_cast<size_t>(columns) * 2, static_cast<size_t>(columns) * 2,
                       static_cast<size_t>(tokens), cudaMemcpyDeviceToDevice),
          "cudaMemcpy2D");
    hidden_ = make_strided_view(wide.data, DType::kBFloat16, {tokens, columns}, {stride, 1}, wide.device);
  }

  std::vector<double> fused() {
    poison(output_);
    FusedInputs inputs;
    inputs.hidden_states = hidden_;
    inputs.routing = routing_;
    moe_fused(plan_, inputs, weights_, output_, workspace_, nullptr);
    return download(output_);
  }

  // moe_routed with the ids/weights left on the device by route().
  std::vector<double> routed() {
    poison(output_);
    RoutedInputs inputs;
    inputs.hidden_states = hidden_;
    inputs.topk_ids = ids_;
    inputs.topk_weights = topk_weights_;
    moe_routed(plan_, inputs, weights_, output_, workspace_, nullptr);
    return download(output_);
  }

  std::vector<double> download(const TensorView& view) const {
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
    tools::HostTensor host = tools::make_host_tensor(view.dtype, {view.shape[0], view.shape[1]});
    tools::copy_to_host(view, host.buffer.data());
    return tools::to_doubles(host.view);
  }

 private:
  const RandomLayer& layer_;
  DeviceTensors tensors_;
  MoePlan plan_;
  TensorView hidden_, output_, ids_, topk_weights_;
  RoutingInputs routing_;
  ExpertWeights weights_;
  Workspace workspace_;
};

inline void expect_close_to_reference(const std::vector<double>& actual, const std::vector<double>& expected,
                               const std::string& label) {
  const tools::ErrorMetrics metrics = tools::compare(actual, expected);
  const tools::Verdict verdict =
      tools::judge(metrics, tools::tolerance_for(WeightFormat::kBF16).vs_reference);
  // Printed on success too: the log of a device run records the error of every shape.
  std::printf("[bf16 experts] %s: rel L2 %.3e, max rel %.3e, NaN/Inf %lld\n", label.c_str(),
              metrics.rel_l2, metrics.max_rel, static_cast<long long>(metrics.nonfinite_actual));
  EXPECT_TRUE(verdict.pass) << label << ": " << verdict.reason << " (rel L2 " << metrics.rel_l2
                            << ", max abs " << metrics.max_abs_err << ", NaN/Inf "
                            << metrics.nonfinite_actual << ")";
}

}  // namespace fusedmoe::testing
