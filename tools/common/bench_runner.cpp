#include "common/bench_runner.h"

#include <algorithm>
#include <functional>
#include <optional>
#include <vector>

#include "common/bench_figures.h"
#include "common/cuda_check.h"
#include "common/device_checks.h"
#include "common/routing_file.h"
#include "common/tool_error.h"

namespace fusedmoe::tools {
namespace {

// Device memory kept free beyond what a row allocates (CUDA graphs, cuBLAS, fragmentation), and
// the most the rotated input sets may take together.
constexpr double kMemoryMargin = 1.0 * (1 << 30);
constexpr double kMaxRotationBytes = 2.0 * (1 << 30);

int current_device() {
  int device = 0;
  check_cuda_call(cudaGetDevice(&device), "cudaGetDevice");
  return device;
}

double free_device_bytes() {
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  check_cuda_call(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  return static_cast<double>(free_bytes);
}

double l2_bytes() {
  int bytes = 0;
  check_cuda_call(cudaDeviceGetAttribute(&bytes, cudaDevAttrL2CacheSize, current_device()),
                  "cudaDeviceGetAttribute(L2 size)");
  return bytes;
}

RoutingInputs routing_inputs(const BenchLayer& layer, const BenchInputs& inputs, BenchEntry entry) {
  RoutingInputs routing;
  routing.router_logits = inputs.router_logits;
  if (entry == BenchEntry::kFused) {
    routing.correction_bias = layer.correction_bias();
    routing.logits_bias = layer.logits_bias();
  }
  return routing;
}

std::function<void(Stream)> entry_call(const MoePlan& plan, const BenchLayer& layer,
                                       const BenchInputs& inputs, BenchEntry entry,
                                       Workspace workspace) {
  if (entry == BenchEntry::kRouted) {
    RoutedInputs routed;
    routed.hidden_states = inputs.hidden_states;
    routed.topk_ids = inputs.topk_ids;
    routed.topk_weights = inputs.topk_weights;
    return [plan, routed, &layer, output = inputs.output, workspace](Stream stream) {
      moe_routed(plan, routed, layer.weights(), output, workspace, stream);
    };
  }
  FusedInputs fused;
  fused.hidden_states = inputs.hidden_states;
  fused.routing = routing_inputs(layer, inputs, entry);
  return [plan, fused, &layer, output = inputs.output, workspace](Stream stream) {
    moe_fused(plan, fused, layer.weights(), output, workspace, stream);
  };
}

}  // namespace

RoutingConfig bench_routing(const LayerSpec& spec, BenchEntry entry) {
  if (entry == BenchEntry::kFused) return spec.routing;
  RoutingConfig routing;
  routing.method = RoutingMethod::kSoftmaxTopK;
  routing.renormalize = true;
  return routing;
}

BenchMeasurement measure_bench_row(const BenchLayer& layer, int64_t tokens,
                                   const BenchRowOptions& options, Stream stream) {
  const MoeConfig& moe = layer.moe();
  const RoutingConfig routing = bench_routing(layer.spec(), options.entry);
  const EntryPoint entry_point =
      options.entry == BenchEntry::kRouted ? EntryPoint::kRouted : EntryPoint::kFused;
  const Support support = query_support(moe, routing, Backend::kCudaSm90, entry_point);
  if (!support.supported) throw Error(ErrorKind::kUnsupported, support.reason);

  PlanOptions plan_options;
  plan_options.backend = Backend::kCudaSm90;
  plan_options.max_num_tokens = static_cast<int32_t>(tokens);
  plan_options.expert_kernel = options.expert_kernel;
  plan_options.tactic = options.tactic;
  plan_options.gemm2_tactic = options.gemm2_tactic;
  plan_options.token_gather = options.token_gather;
  const MoePlan plan = make_plan(moe, routing, plan_options);

  const int device = current_device();
  DeviceTensors tensors(device);
  const Workspace workspace{tensors.scratch(plan.workspace_bytes), plan.workspace_bytes};

  BenchMeasurement result;
  std::optional<RoutedIds> routing_from_file;
  if (!options.routing_file.empty()) {
    if (options.entry != BenchEntry::kRouted) {
      throw UsageError("--routing-dir: routing from a file needs the routed entry (--entry routed)");
    }
    routing_from_file = read_routing_file(options.routing_file, tokens, moe.top_k, moe.num_experts);
  }
  std::vector<BenchInputs> sets;
  double hit_sum = 0.0;
  const auto add_set = [&] {
    BenchInputs inputs = make_bench_inputs(tensors, layer, tokens, static_cast<int32_t>(sets.size()),
                                           stream);
    if (routing_from_file) {
      // After the set's own fills on `stream`; synchronous copies of pageable host memory.
      check_cuda_call(cudaStreamSynchronize(stream), "cudaStreamSynchronize(bench inputs)");
      check_cuda_call(cudaMemcpy(inputs.topk_ids.data, routing_from_file->ids.data(),
                                 routing_from_file->ids.size() * sizeof(int32_t), cudaMemcpyHostToDevice),
                      "cudaMemcpy(routing ids)");
      check_cuda_call(cudaMemcpy(inputs.topk_weights.data, routing_from_file->weights.data(),
                                 routing_from_file->weights.size() * sizeof(float), cudaMemcpyHostToDevice),
                      "cudaMemcpy(routing weights)");
    } else {
      moe_route(plan, routing_inputs(layer, inputs, options.entry), inputs.topk_ids,
                inputs.topk_weights, workspace, stream);
    }
    hit_sum += static_cast<double>(count_experts_hit(moe, inputs.topk_ids));
    sets.push_back(inputs);
  };
  add_set();
  const double touched = bench_cost(moe, hit_sum, tokens).bytes;
  const double spare =
      std::min(kMaxRotationBytes, free_device_bytes() - kMemoryMargin) +
      static_cast<double>(bench_inputs_bytes(moe, tokens));  // the first set is already held
  const int32_t wanted = bench_rotation_sets(touched, l2_bytes(),
                                             static_cast<double>(bench_inputs_bytes(moe, tokens)),
                                             spare, options.max_sets);
  while (static_cast<int32_t>(sets.size()) < wanted) add_set();

  std::vector<std::function<void(Stream)>> calls;
  for (const BenchInputs& inputs : sets) {
    fill_bf16_bits_on_device(inputs.output, "output", kBf16Poison, stream);
    calls.push_back(entry_call(plan, layer, inputs, options.entry, workspace));
  }
  const std::vector<double> samples = time_graph_replays(calls, options.replay, stream);

  result.sets = static_cast<int32_t>(sets.size());
  result.experts_hit = hit_sum / static_cast<double>(sets.size());
  result.samples = static_cast<int64_t>(samples.size());
  result.seconds = median_of(samples);
  result.fastest_seconds = *std::min_element(samples.begin(), samples.end());
  result.slowest_seconds = *std::max_element(samples.begin(), samples.end());
  for (const BenchInputs& inputs : sets) {
    result.nonfinite_outputs += count_nonfinite_bf16_on_device(inputs.output, "output", stream);
  }
  return result;
}

}  // namespace fusedmoe::tools
