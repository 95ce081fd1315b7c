// The BF16 layer through every entry point (src/core: fused, routed, modular) on each expert kernel
// family, forced: expert-parallel shards, -1 / foreign / duplicated ids, CUDA-graph capture and
// replay, the masked layout with row weights, expert biases, and the modular path behind a
// simulated all-to-all; against the CPU reference or the fused layer (bf16_gpu_layer.h).
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "core/host_numerics.h"

#include "gpu/gemm/sm90/bf16_gpu_layer.h"
#include "support/gpu_skip.h"

namespace fusedmoe::testing {
namespace {

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
}  // namespace fusedmoe::testing
