// BF16 expert compute on sm_90a (src/gemm/sm90) through the public entry points, against the CPU
// reference on seeded random layers of real model shapes (H and I kept; expert counts reduced
// where generating every expert on the host would take too long).
//
// End-to-end comparisons use the GPU's own routing decisions: the reference runs moe_routed with
// the ids and weights moe_route produced on the GPU, so a near-tie in routing cannot decide a test.
// Outputs are poisoned (0xFF bytes: NaN in bf16) before every run; NaN never passes.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "common/device_memory.h"
#include "common/host_buffer.h"
#include "common/layer_runner.h"
#include "common/metrics.h"
#include "common/presets.h"
#include "common/random_layer.h"
#include "common/weight_formats.h"
#include "gemm/sm90/grouped_gemm_bf16.h"
#include "gpu_test_common.h"
#include "support/gpu_skip.h"

namespace fusedmoe {
namespace {

using tools::DeviceTensors;
using tools::RandomLayer;

void check(cudaError_t status, const char* what) {
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

std::string case_name(const LayerCase& layer_case) {
  std::string name = layer_case.model + "_tp" + std::to_string(layer_case.tensor_parallel) + "_E" +
                     std::to_string(layer_case.num_experts) + "_M" + std::to_string(layer_case.tokens);
  if (layer_case.hidden_size > 0) name += "_H" + std::to_string(layer_case.hidden_size);
  if (layer_case.intermediate_size > 0) name += "_I" + std::to_string(layer_case.intermediate_size);
  if (layer_case.gate_up_layout >= 0) name += "_layout" + std::to_string(layer_case.gate_up_layout);
  return name;
}

std::string kernel_label(ExpertKernel kernel) {
  std::string label = expert_kernel_name(kernel);
  for (char& c : label) {
    if (c == '-') c = '_';
  }
  return label;
}

tools::LayerSpec bf16_spec(const LayerCase& layer_case, int32_t ep = 1, int32_t ep_rank = 0) {
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
           int32_t tactic = -1, TokenGather token_gather = TokenGather::kAuto)
      : layer_(layer), tensors_(0) {
    PlanOptions options;
    options.backend = Backend::kCudaSm90;
    options.max_num_tokens = max_tokens;
    options.expert_kernel = kernel;
    options.tactic = tactic;
    options.token_gather = token_gather;
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

void expect_close_to_reference(const std::vector<double>& actual, const std::vector<double>& expected,
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

// Every case runs on both expert kernel families, forced: weight streaming (with the token
// tile the heuristic picks for the case, so M = 257 walks several token tiles per expert) and
// the grouped tile GEMM.
class Bf16ExpertsGpu : public ::testing::TestWithParam<std::tuple<LayerCase, ExpertKernel>> {};

TEST_P(Bf16ExpertsGpu, FusedMatchesReferenceAndRoutedIsBitwiseFused) {
  FUSEDMOE_REQUIRE_SM90();
  const LayerCase layer_case = std::get<0>(GetParam());
  const ExpertKernel kernel = std::get<1>(GetParam());
  RandomLayer layer(bf16_spec(layer_case), layer_case.tokens,
                    testing::case_seed(case_name(layer_case)));
  layer.generate_all_experts();
  GpuLayer gpu(layer, layer_case.tokens, kernel);

  const tools::RoutedIds decisions = gpu.route();
  const std::vector<double> fused = gpu.fused();
  const std::vector<double> routed = gpu.routed();
  const std::vector<double> expected = tools::routed_on_cpu(layer, decisions).output;

  expect_close_to_reference(fused, expected,
                            case_name(layer_case) + " " + kernel_label(kernel) + " moe_fused vs reference");
  ASSERT_EQ(fused.size(), routed.size());
  EXPECT_EQ(std::memcmp(fused.data(), routed.data(), fused.size() * sizeof(double)), 0)
      << "moe_routed fed moe_route's ids and weights differs from moe_fused";
  const std::vector<double> again = gpu.fused();
  EXPECT_EQ(std::memcmp(fused.data(), again.data(), fused.size() * sizeof(double)), 0)
      << "moe_fused is not bitwise reproducible run to run";
}

INSTANTIATE_TEST_SUITE_P(
    PresetShapes, Bf16ExpertsGpu,
    ::testing::Combine(::testing::Values(LayerCase{"qwen3-30b-a3b", 1, 32, 1}, LayerCase{"qwen3-30b-a3b", 1, 32, 7},
                      LayerCase{"qwen3-30b-a3b", 1, 32, 64}, LayerCase{"qwen3-30b-a3b", 1, 32, 257},
                      LayerCase{"deepseek-v3", 8, 32, 1}, LayerCase{"deepseek-v3", 8, 32, 64},
                      LayerCase{"deepseek-v3", 8, 32, 257}, LayerCase{"deepseek-v3", 1, 16, 7},
                      LayerCase{"qwen3-235b-a22b", 8, 16, 64}, LayerCase{"mixtral-8x7b", 4, 0, 3},
                      LayerCase{"mixtral-8x7b", 4, 0, 64}, LayerCase{"minimax-m2", 1, 16, 64},
                      LayerCase{"nemotron-3-nano", 1, 16, 5}, LayerCase{"nemotron-3-nano", 1, 16, 64},
                      LayerCase{"llama-4-scout", 8, 0, 4}, LayerCase{"llama-4-scout", 8, 0, 100},
                      LayerCase{"glm-4.5-air", 8, 16, 33},
                      // Checkpoint w13 orders other than the preset's.
                      LayerCase{"qwen3-30b-a3b", 1, 16, 7, 0, 0, static_cast<int32_t>(GateUpLayout::kUpThenGate)},
                      LayerCase{"qwen3-30b-a3b", 1, 16, 33, 0, 0, static_cast<int32_t>(GateUpLayout::kInterleaved)},
                      // Sizes that fit no tile: gpt-oss H = 2880, I = 232 and 192 (not multiples
                      // of the 32/64-column streaming tiles nor the 128-column grouped tiles).
                      LayerCase{"qwen3-30b-a3b", 1, 16, 19, 2880, 232},
                      LayerCase{"qwen3-30b-a3b", 1, 16, 64, 2880, 192},
                      LayerCase{"nemotron-3-nano", 1, 16, 9, 2880, 232},
                      // Non-gated with K >= 3072: ReLU² in the 64x256 tile's epilogue.
                      LayerCase{"nemotron-3-nano", 1, 16, 64, 3072, 256}),
                      ::testing::Values(ExpertKernel::kWeightStreaming, ExpertKernel::kGroupedTile)),
    [](const ::testing::TestParamInfo<std::tuple<LayerCase, ExpertKernel>>& info) {
      std::string name = case_name(std::get<0>(info.param)) + "_" + kernel_label(std::get<1>(info.param));
      for (char& c : name) {
        if (c == '-' || c == '.') c = '_';
      }
      return name;
    });

// The behaviours below run on each expert kernel family, forced.
class Bf16ExpertsGpuKernels : public ::testing::TestWithParam<ExpertKernel> {};

// Two expert-parallel ranks, each with half the experts, sum to the unsharded layer; -1 and
// non-local ids contribute nothing and never fault.
TEST_P(Bf16ExpertsGpuKernels, ExpertParallelShardsSumToTheWholeLayer) {
  FUSEDMOE_REQUIRE_SM90();
  const LayerCase layer_case{"qwen3-30b-a3b", 1, 32, 64};
  const uint64_t seed = testing::case_seed("ep_shards");
  RandomLayer whole(bf16_spec(layer_case), layer_case.tokens, seed);
  whole.generate_all_experts();
  GpuLayer whole_gpu(whole, layer_case.tokens, GetParam());
  const tools::RoutedIds decisions = whole_gpu.route();
  const std::vector<double> expected = whole_gpu.fused();

  std::vector<double> summed(expected.size(), 0.0);
  for (int32_t rank = 0; rank < 2; ++rank) {
    RandomLayer shard(bf16_spec(layer_case, 2, rank), layer_case.tokens, seed);
    shard.generate_all_experts();
    GpuLayer shard_gpu(shard, layer_case.tokens, GetParam());
    const std::vector<double> part = shard_gpu.fused();
    expect_close_to_reference(part, tools::routed_on_cpu(shard, decisions).output,
                              "EP rank " + std::to_string(rank) + " vs reference");
    for (size_t i = 0; i < part.size(); ++i) summed[i] += part[i];
  }
  // Each shard's output is rounded to bf16 on its own, so the sum carries two roundings of
  // partial sums that can be larger than the total: judged with the vs-exact bound (1e-2), not
  // the same-rounding bound, and NaN still fails.
  const tools::ErrorMetrics metrics = tools::compare(summed, expected);
  const tools::Verdict verdict =
      tools::judge(metrics, tools::tolerance_for(WeightFormat::kBF16).vs_exact);
  EXPECT_TRUE(verdict.pass) << "sum of EP shards vs the whole layer: " << verdict.reason;
}

TEST_P(Bf16ExpertsGpuKernels, InvalidAndDuplicatedIdsInRoutedCallMatchReference) {
  FUSEDMOE_REQUIRE_SM90();
  // 40 tokens (320 slots) run the dispatch kernel; 5 tokens (40 slots) the decode path, whose
  // weight-streaming kernels list each expert's slots from the ids themselves. Ids as int32 and
  // as int64 (what torch.topk returns).
  for (const int32_t tokens : {40, 5}) {
    const LayerCase layer_case{"qwen3-30b-a3b", 1, 32, tokens};
    RandomLayer layer(bf16_spec(layer_case, 2, 1), layer_case.tokens,
                      testing::case_seed("invalid_ids_" + std::to_string(tokens)));
    layer.generate_all_experts();
    GpuLayer gpu(layer, layer_case.tokens, GetParam());
    tools::RoutedIds decisions;
    const int32_t top_k = layer.moe().top_k;
    for (int32_t t = 0; t < layer_case.tokens; ++t) {
      for (int32_t s = 0; s < top_k; ++s) {
        // -1, ids of the other rank, duplicates and local ids, with weights of both signs.
        const int32_t pattern = (t * 7 + s * 3) % 5;
        const int32_t id = pattern == 0 ? -1 : pattern == 1 ? (t + s) % 16 : 16 + (t % 3);
        decisions.ids.push_back(id);
        decisions.weights.push_back(0.125f * static_cast<float>(s + 1) * (t % 2 ? 1.0f : -1.0f));
      }
    }
    const std::vector<double> expected = tools::routed_on_cpu(layer, decisions).output;
    std::vector<int64_t> ids_int64(decisions.ids.begin(), decisions.ids.end());

    DeviceTensors tensors(0);
    RoutedInputs inputs;
    inputs.hidden_states = gpu.hidden();
    inputs.topk_weights =
        tensors.upload(make_view(decisions.weights.data(), DType::kFloat32, {layer_case.tokens, top_k}));
    for (const DType id_dtype : {DType::kInt32, DType::kInt64}) {
      void* ids = id_dtype == DType::kInt32 ? static_cast<void*>(decisions.ids.data()) : ids_int64.data();
      inputs.topk_ids = tensors.upload(make_view(ids, id_dtype, {layer_case.tokens, top_k}));
      gpu.poison(gpu.output());
      moe_routed(gpu.plan(), inputs, gpu.weights(), gpu.output(), gpu.workspace(), nullptr);
      expect_close_to_reference(gpu.download(gpu.output()), expected,
                                "routed with -1/foreign/duplicate " + std::string(dtype_name(id_dtype)) +
                                    " ids, M = " + std::to_string(tokens));
    }
  }
}

TEST_P(Bf16ExpertsGpuKernels, CapturedFusedReplaysOnNewInputsLikeEager) {
  FUSEDMOE_REQUIRE_SM90();
  const LayerCase layer_case{"qwen3-30b-a3b", 1, 32, 64};
  RandomLayer first(bf16_spec(layer_case), layer_case.tokens, testing::case_seed("graph_a"));
  first.generate_all_experts();
  GpuLayer gpu(first, layer_case.tokens, GetParam());

  cudaStream_t stream = nullptr;
  check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  FusedInputs inputs;
  inputs.hidden_states = gpu.hidden();
  inputs.routing = gpu.routing();
  cudaGraph_t graph = nullptr;
  check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "BeginCapture");
  moe_fused(gpu.plan(), inputs, gpu.weights(), gpu.output(), gpu.workspace(), stream);
  check(cudaStreamEndCapture(stream, &graph), "EndCapture");
  cudaGraphExec_t exec = nullptr;
  check(cudaGraphInstantiate(&exec, graph, 0), "GraphInstantiate");

  // New hidden states and logits (another seed) copied into the captured buffers.
  RandomLayer second(bf16_spec(layer_case), layer_case.tokens, testing::case_seed("graph_b"));
  const TensorView new_hidden = second.hidden_states();
  const TensorView new_logits = second.routing_inputs().router_logits;
  check(cudaMemcpy(gpu.hidden().data, new_hidden.data,
                   static_cast<size_t>(new_hidden.numel()) * dtype_size(new_hidden.dtype),
                   cudaMemcpyHostToDevice), "copy hidden");
  check(cudaMemcpy(gpu.routing().router_logits.data, new_logits.data,
                   static_cast<size_t>(new_logits.numel()) * dtype_size(new_logits.dtype),
                   cudaMemcpyHostToDevice), "copy logits");
  gpu.poison(gpu.output());
  check(cudaGraphLaunch(exec, stream), "GraphLaunch");
  check(cudaStreamSynchronize(stream), "StreamSynchronize");
  const std::vector<double> replayed = gpu.download(gpu.output());
  const std::vector<double> eager = gpu.fused();
  EXPECT_EQ(std::memcmp(replayed.data(), eager.data(), eager.size() * sizeof(double)), 0)
      << "graph replay differs from the eager call on the same inputs";
  const tools::ErrorMetrics metrics = tools::compare(replayed, eager);
  EXPECT_EQ(metrics.nonfinite_actual, 0);

  check(cudaGraphExecDestroy(exec), "GraphExecDestroy");
  check(cudaGraphDestroy(graph), "GraphDestroy");
  check(cudaStreamDestroy(stream), "StreamDestroy");
}

TEST_P(Bf16ExpertsGpuKernels, MaskedLayoutWithRowWeightsMatchesReference) {
  FUSEDMOE_REQUIRE_SM90();
  const LayerCase layer_case{"qwen3-30b-a3b", 1, 8, 1};
  RandomLayer layer(bf16_spec(layer_case), 1, testing::case_seed("masked"));
  layer.generate_all_experts();
  const MoeConfig& moe = layer.moe();
  const int64_t experts = moe.local_experts();
  const int64_t capacity = 37;
  const int64_t hidden = moe.hidden_size;

  // Host inputs: random bf16 rows, per-expert counts (0, partial, full), per-row weights.
  std::vector<uint16_t> x(static_cast<size_t>(experts * capacity * hidden));
  std::vector<int32_t> counts(static_cast<size_t>(experts));
  std::vector<float> row_weights(static_cast<size_t>(experts * capacity));
  uint64_t state = testing::case_seed("masked_rows") | 1;
  auto next_unit = [&] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return static_cast<float>((state >> 11) * (1.0 / 9007199254740992.0)) * 2.0f - 1.0f;
  };
  for (uint16_t& value : x) value = numerics::float_to_bf16_bits(next_unit());
  for (int64_t e = 0; e < experts; ++e) counts[static_cast<size_t>(e)] = static_cast<int32_t>((e * 11) % (capacity + 1));
  for (float& weight : row_weights) weight = next_unit();

  const TensorView host_x = make_view(x.data(), DType::kBFloat16, {experts, capacity, hidden});
  const TensorView host_counts = make_view(counts.data(), DType::kInt32, {experts});
  const TensorView host_row_weights = make_view(row_weights.data(), DType::kFloat32, {experts, capacity});

  std::vector<uint16_t> expected_raw(x.size(), 0);
  ExpertsInputs host_inputs;
  host_inputs.layout = ExpertInputLayout::kMasked;
  host_inputs.hidden_states = host_x;
  host_inputs.expert_counts = host_counts;
  host_inputs.row_weights = host_row_weights;
  PlanOptions cpu_options;
  cpu_options.backend = Backend::kCpuReference;
  const MoePlan cpu_plan = make_plan(moe, layer.spec().routing, cpu_options);
  tools::HostBuffer cpu_workspace(cpu_plan.workspace_bytes);
  moe_experts(cpu_plan, host_inputs, layer.weights(),
              make_view(expected_raw.data(), DType::kBFloat16, {experts, capacity, hidden}),
              Workspace{cpu_workspace.data(), cpu_workspace.bytes()}, nullptr);

  DeviceTensors tensors(0);
  PlanOptions options;
  options.backend = Backend::kCudaSm90;
  options.max_num_tokens = static_cast<int32_t>(experts * capacity);
  options.expert_kernel = GetParam();
  const MoePlan plan = make_plan(moe, layer.spec().routing, options);
  ExpertWeights weights = tensors.upload(layer.weights());
  const size_t scratch = prepare_scratch_bytes(moe, Backend::kCudaSm90);
  prepare_weights(moe, Backend::kCudaSm90, weights, Workspace{tensors.scratch(scratch), scratch}, nullptr);
  ExpertsInputs inputs;
  inputs.layout = ExpertInputLayout::kMasked;
  inputs.hidden_states = tensors.upload(host_x);
  inputs.expert_counts = tensors.upload(host_counts);
  inputs.row_weights = tensors.upload(host_row_weights);
  // Rows past each count must stay untouched: fill the output with a sentinel first.
  std::vector<uint16_t> sentinel(x.size(), numerics::float_to_bf16_bits(12345.0f));
  const TensorView output = tensors.upload(make_view(sentinel.data(), DType::kBFloat16, {experts, capacity, hidden}));
  moe_experts(plan, inputs, weights, output, Workspace{tensors.scratch(plan.workspace_bytes), plan.workspace_bytes},
              nullptr);
  std::vector<uint16_t> actual_raw(x.size());
  check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  tools::copy_to_host(output, actual_raw.data());

  std::vector<double> actual, expected;
  for (int64_t e = 0; e < experts; ++e) {
    for (int64_t r = 0; r < capacity; ++r) {
      for (int64_t h = 0; h < hidden; ++h) {
        const size_t index = static_cast<size_t>((e * capacity + r) * hidden + h);
        if (r < counts[static_cast<size_t>(e)]) {
          actual.push_back(numerics::bf16_bits_to_float(actual_raw[index]));
          expected.push_back(numerics::bf16_bits_to_float(expected_raw[index]));
        } else {
          ASSERT_EQ(actual_raw[index], sentinel[index]) << "row past the count was written: expert "
                                                        << e << " row " << r;
        }
      }
    }
  }
  expect_close_to_reference(actual, expected, "masked moe_experts vs reference");
}

// gpt-oss: SwiGLU-OAI with clamp, interleaved w13, biases on both GEMMs. The weight-streaming
// epilogue adds the biases (kAuto picks it whenever biases are present); the grouped tile GEMM
// has no bias epilogue and says so instead of ignoring them.
TEST_P(Bf16ExpertsGpuKernels, ExpertBiasesRunOnStreamingAndAreRefusedByTheGroupedTile) {
  FUSEDMOE_REQUIRE_SM90();
  for (const int32_t tokens : {2, 40}) {
    const LayerCase layer_case{"gpt-oss-120b", 8, 8, tokens};
    RandomLayer layer(bf16_spec(layer_case), layer_case.tokens, testing::case_seed(case_name(layer_case)));
    layer.generate_all_experts();
    ASSERT_TRUE(layer.weights().w13_bias.defined());
    const ExpertKernel kernel = GetParam();
    if (kernel == ExpertKernel::kGroupedTile) {
      try {
        GpuLayer gpu(layer, layer_case.tokens, kernel);
        gpu.fused();
        FAIL() << "expert biases ran on the grouped tile GEMM, which has no bias epilogue";
      } catch (const Error& error) {
        EXPECT_EQ(error.kind(), ErrorKind::kUnsupported) << error.what();
        EXPECT_NE(std::string(error.what()).find("bias"), std::string::npos) << error.what();
      }
      continue;
    }
    for (const ExpertKernel requested : {ExpertKernel::kAuto, ExpertKernel::kWeightStreaming}) {
      GpuLayer gpu(layer, layer_case.tokens, requested);
      const tools::RoutedIds decisions = gpu.route();
      expect_close_to_reference(gpu.fused(), tools::routed_on_cpu(layer, decisions).output,
                                case_name(layer_case) + " " + kernel_label(requested) + " with biases");
    }
  }
}

INSTANTIATE_TEST_SUITE_P(BothKernels, Bf16ExpertsGpuKernels,
                         ::testing::Values(ExpertKernel::kWeightStreaming, ExpertKernel::kGroupedTile),
                         [](const ::testing::TestParamInfo<ExpertKernel>& info) {
                           return kernel_label(info.param);
                         });

// Every forced tactic (grouped tiles 64x128, 128x128, 256x128, 128x256, 64x256; streaming token
// tiles 8..64) against the reference: the heuristic alone would leave some of them untested at these sizes.
TEST(Bf16ExpertsGpuTactics, EveryForcedTacticMatchesReference) {
  FUSEDMOE_REQUIRE_SM90();
  for (const LayerCase& layer_case : {LayerCase{"qwen3-30b-a3b", 1, 16, 75}, LayerCase{"deepseek-v3", 8, 16, 9}}) {
    RandomLayer layer(bf16_spec(layer_case), layer_case.tokens, testing::case_seed(case_name(layer_case)));
    layer.generate_all_experts();
    for (const ExpertKernel kernel : {ExpertKernel::kGroupedTile, ExpertKernel::kWeightStreaming}) {
      const int32_t tactics = kernel == ExpertKernel::kGroupedTile ? sm90::kGroupedTileCount : 4;
      for (int32_t tactic = 0; tactic < tactics; ++tactic) {
        GpuLayer gpu(layer, layer_case.tokens, kernel, tactic);
        const tools::RoutedIds decisions = gpu.route();
        expect_close_to_reference(gpu.fused(), tools::routed_on_cpu(layer, decisions).output,
                                  case_name(layer_case) + " " + kernel_label(kernel) + " tactic " +
                                      std::to_string(tactic));
      }
    }
  }
}

// At prefill sizes (M = 4096, too slow for the single-threaded reference) the two kernel
// families check each other: independent tilings, the same rounding steps, so they agree to the
// same-rounding bound; the weight-streaming side walks many token tiles per expert here.
TEST(Bf16ExpertsGpuFamilies, StreamingAndGroupedTileAgreeAtPrefillSizes) {
  FUSEDMOE_REQUIRE_SM90();
  for (const LayerCase& layer_case : {LayerCase{"qwen3-30b-a3b", 1, 64, 4096},
                                      LayerCase{"deepseek-v3", 8, 32, 4096}}) {
    RandomLayer layer(bf16_spec(layer_case), layer_case.tokens, testing::case_seed(case_name(layer_case)));
    layer.generate_all_experts();
    GpuLayer streaming(layer, layer_case.tokens, ExpertKernel::kWeightStreaming);
    GpuLayer grouped(layer, layer_case.tokens, ExpertKernel::kGroupedTile);
    const std::vector<double> a = streaming.fused();
    const std::vector<double> b = grouped.fused();
    expect_close_to_reference(a, b, case_name(layer_case) + " weight streaming vs grouped tile");
  }
}

// A layer (an EP shard of it, hidden_states strided by extra_columns NaN columns when > 0) whose
// token rows an expert kernel reads by index (TokenGather::kIndex) or from dispatch's gathered copy
// (TokenGather::kCopy).
struct GatherCase {
  LayerCase layer;
  int32_t ep = 1;
  int64_t extra_columns = 0;
};

// The rows read by index must give bitwise the gathered copy's output (same loads, same
// arithmetic), match the reference, and repeat bitwise run to run.
void expect_rows_by_index_equal_the_copy(const GatherCase& gather_case, ExpertKernel kernel, int32_t tactic) {
  const LayerCase& layer_case = gather_case.layer;
  const std::string label = case_name(layer_case) + "_ep" + std::to_string(gather_case.ep) + "_stride+" +
                            std::to_string(gather_case.extra_columns) + " " + kernel_label(kernel) + " tactic " +
                            std::to_string(tactic);
  RandomLayer layer(bf16_spec(layer_case, gather_case.ep, gather_case.ep - 1), layer_case.tokens,
                    testing::case_seed(label));
  layer.generate_all_experts();
  GpuLayer by_index(layer, layer_case.tokens, kernel, tactic, TokenGather::kIndex);
  GpuLayer copied(layer, layer_case.tokens, kernel, tactic, TokenGather::kCopy);
  if (gather_case.extra_columns > 0) {
    by_index.use_strided_hidden(gather_case.extra_columns);
    copied.use_strided_hidden(gather_case.extra_columns);
  }
  const tools::RoutedIds decisions = by_index.route();
  const std::vector<double> indexed = by_index.fused();
  const std::vector<double> copy = copied.fused();
  expect_close_to_reference(indexed, tools::routed_on_cpu(layer, decisions).output,
                            label + " rows by index vs reference");
  ASSERT_EQ(indexed.size(), copy.size());
  EXPECT_EQ(std::memcmp(indexed.data(), copy.data(), indexed.size() * sizeof(double)), 0)
      << label << ": rows read by index differ from the gathered copy";
  const std::vector<double> again = by_index.fused();
  EXPECT_EQ(std::memcmp(indexed.data(), again.data(), indexed.size() * sizeof(double)), 0)
      << label << ": not bitwise reproducible run to run";
}

// Weight streaming: packed and strided hidden_states, several token tiles per expert, an EP
// shard (foreign ids).
TEST(Bf16ExpertsGpuTokenGather, RowsReadByIndexEqualTheGatheredCopyBitwise) {
  FUSEDMOE_REQUIRE_SM90();
  for (const GatherCase& gather_case :
       {GatherCase{LayerCase{"qwen3-30b-a3b", 1, 32, 1}}, GatherCase{LayerCase{"qwen3-30b-a3b", 1, 32, 257}, 1, 64},
        GatherCase{LayerCase{"deepseek-v3", 8, 32, 37}, 2}, GatherCase{LayerCase{"mixtral-8x7b", 4, 0, 9}, 1, 8},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 16, 19, 2880, 232}, 2, 8}}) {
    expect_rows_by_index_equal_the_copy(gather_case, ExpertKernel::kWeightStreaming, -1);
  }
}

// On the 128x256 and 64x256 grouped tiles, TokenGather::kIndex runs the GEMM1 that reads the token
// rows by index (gather_gemm1.h) whatever auto's rule says (so on any GPU), and TokenGather::kCopy
// CUTLASS's GEMM1 of the same tile on the gathered copy: same tile, same wgmma instructions, same
// K order. The cases cover the DeepSeek-V3 TP8 shard (blocked w13: activation in the epilogue) as
// an EP shard with strided hidden_states, rows that do not fill the tile, H not a multiple of the
// 64-wide K step (264), I = 232 (checkpoint-order w13: the product is stored and the activation
// kernel follows), a non-gated activation whose n is not a multiple of 256 (I = 248), experts
// without rows, a wide expert (Qwen3-30B-A3B, I = 768), and 600 rows per expert, so that every
// CTA of the persistent grid runs several tiles and the shared-memory ring wraps many times.
TEST(Bf16ExpertsGpuGatherGemm1, RowsReadByIndexEqualTheGatheredCopyBitwise) {
  FUSEDMOE_REQUIRE_SM90();
  for (const GatherCase& gather_case :
       {GatherCase{LayerCase{"deepseek-v3", 8, 32, 300}, 2, 64}, GatherCase{LayerCase{"qwen3-30b-a3b", 1, 32, 257, 0, 128}},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 16, 100, 264, 232}, 2, 8},
        GatherCase{LayerCase{"nemotron-3-nano", 1, 16, 150, 0, 248}},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 64, 9, 0, 256}, 1, 8},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 32, 200}},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 16, 1200, 512, 256}}}) {
    for (const sm90::GroupedTile tile : {sm90::GroupedTile::k128x256, sm90::GroupedTile::k64x256}) {
      expect_rows_by_index_equal_the_copy(gather_case, ExpertKernel::kGroupedTile, static_cast<int32_t>(tile));
    }
  }
}

// Expert parallelism through the modular entry points on one GPU: the tokens of two fake ranks
// go through a simulated all-to-all to the rank owning each expert (each owns half), which
// dispatches them, runs moe_experts on the contiguous layout and combines its partial output;
// the partial outputs come back and are summed per token. That must equal the fused layer.
TEST_P(Bf16ExpertsGpuKernels, ModularBehindSimulatedAllToAllEqualsFused) {
  FUSEDMOE_REQUIRE_SM90();
  const LayerCase layer_case{"qwen3-30b-a3b", 1, 32, 48};
  const uint64_t seed = testing::case_seed("all_to_all");
  RandomLayer whole(bf16_spec(layer_case), layer_case.tokens, seed);
  whole.generate_all_experts();
  GpuLayer whole_gpu(whole, layer_case.tokens, GetParam());
  // The ids and weights of every token, as the source ranks' routers computed them (non-const:
  // make_view wraps mutable host memory).
  tools::RoutedIds decisions = whole_gpu.route();
  const std::vector<double> fused = whole_gpu.fused();

  const int64_t tokens = layer_case.tokens;
  const int64_t top_k = whole.moe().top_k;
  const int64_t hidden = whole.moe().hidden_size;
  std::vector<double> summed(fused.size(), 0.0);
  DeviceTensors tensors(0);
  // The routed ids/weights as the all-to-all delivers them: every token's (id, weight) pairs.
  RoutedInputs routed_inputs;
  routed_inputs.topk_ids = tensors.upload(make_view(decisions.ids.data(), DType::kInt32, {tokens, top_k}));
  routed_inputs.topk_weights =
      tensors.upload(make_view(decisions.weights.data(), DType::kFloat32, {tokens, top_k}));
  for (int32_t owner = 0; owner < 2; ++owner) {
    RandomLayer shard(bf16_spec(layer_case, 2, owner), layer_case.tokens, seed);
    shard.generate_all_experts();
    PlanOptions options;
    options.backend = Backend::kCudaSm90;
    options.max_num_tokens = static_cast<int32_t>(tokens);
    options.expert_kernel = GetParam();
    const MoePlan plan = make_plan(shard.moe(), shard.spec().routing, options);
    ExpertWeights weights = tensors.upload(shard.weights());
    const size_t scratch = prepare_scratch_bytes(shard.moe(), Backend::kCudaSm90);
    prepare_weights(shard.moe(), Backend::kCudaSm90, weights, Workspace{tensors.scratch(scratch), scratch},
                    nullptr);
    const Workspace workspace{tensors.scratch(plan.workspace_bytes), plan.workspace_bytes};
    const int64_t local = shard.moe().local_experts();
    const int64_t rows = tokens * top_k;  // row_alignment 1: at most every slot

    // Received tokens: rank 0's tokens [0, M/2) then rank 1's [M/2, M), i.e. the batch in order.
    DispatchMaps maps;
    maps.expert_offsets = tensors.allocate(DType::kInt32, {local + 1});
    maps.expert_counts = tensors.allocate(DType::kInt32, {local});
    maps.row_to_slot = tensors.allocate(DType::kInt32, {rows});
    maps.slot_to_row = tensors.allocate(DType::kInt32, {tokens, top_k});
    const TensorView permuted = tensors.allocate(DType::kBFloat16, {rows, hidden});
    const TensorView expert_output = tensors.allocate(DType::kBFloat16, {rows, hidden});
    const TensorView partial = tensors.allocate(DType::kBFloat16, {tokens, hidden});
    whole_gpu.poison(expert_output);
    whole_gpu.poison(partial);
    moe_dispatch(plan, routed_inputs.topk_ids, 1, maps, whole_gpu.hidden(), permuted, TensorView{},
                 workspace, nullptr);
    ExpertsInputs experts_inputs;
    experts_inputs.layout = ExpertInputLayout::kContiguous;
    experts_inputs.hidden_states = permuted;
    experts_inputs.expert_offsets = maps.expert_offsets;
    moe_experts(plan, experts_inputs, weights, expert_output, workspace, nullptr);
    CombineInputs combine_inputs;
    combine_inputs.expert_output = expert_output;
    combine_inputs.slot_to_row = maps.slot_to_row;
    combine_inputs.topk_weights = routed_inputs.topk_weights;
    moe_combine(plan, combine_inputs, partial, nullptr);
    // The return all-to-all: each source rank receives its tokens' rows and sums them.
    const std::vector<double> part = whole_gpu.download(partial);
    for (size_t i = 0; i < part.size(); ++i) summed[i] += part[i];
  }
  // Two partial outputs, each rounded to bf16: judged with the vs-exact bound, NaN fails.
  const tools::ErrorMetrics metrics = tools::compare(summed, fused);
  const tools::Verdict verdict = tools::judge(metrics, tools::tolerance_for(WeightFormat::kBF16).vs_exact);
  std::printf("[bf16 experts] all-to-all modular vs fused (%s): rel L2 %.3e\n", kernel_label(GetParam()).c_str(),
              metrics.rel_l2);
  EXPECT_TRUE(verdict.pass) << "modular path behind the simulated all-to-all vs fused: " << verdict.reason;
}

}  // namespace
}  // namespace fusedmoe
