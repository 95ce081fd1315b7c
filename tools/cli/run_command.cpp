// `fusedmoe run`: builds a seeded random layer of a model preset, runs the fused entry point on
// the chosen backend, verifies it two ways and prints errors, time and % of the roofline floor.
//
//   check 1 (same semantics, same rounding): on the CPU, moe_fused against moe_routed fed
//           moe_route's ids and weights (must be bit-identical); on CUDA, the kernels against
//           the CPU reference's moe_fused (docs/NUMERICS.md tolerances).
//   check 2 (independent): the output against a double-precision evaluation written apart from
//           the library (exact_moe.h): own routing, dequantized stored weights, unquantized
//           activations. Its bound absorbs the activation rounding/quantization the library
//           applies on purpose.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/run_report.h"
#include "cli/run_request.h"
#include "cli/units.h"
#include "common/exact_moe.h"
#include "common/layer_runner.h"
#include "common/metrics.h"
#include "common/random_layer.h"
#include "core/host_numerics.h"

namespace fusedmoe::cli {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// Token rows whose selected expert sets differ (order within a row does not matter).
int64_t routing_disagreements(const std::vector<int32_t>& library, const std::vector<int32_t>& exact,
                              int32_t top_k) {
  int64_t differing = 0;
  for (size_t row = 0; row < library.size() / static_cast<size_t>(top_k); ++row) {
    std::vector<int32_t> a(library.begin() + row * top_k, library.begin() + (row + 1) * top_k);
    std::vector<int32_t> b(exact.begin() + row * top_k, exact.begin() + (row + 1) * top_k);
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    if (a != b) ++differing;
  }
  return differing;
}

// Static fp8 activation scales need the layer's own intermediate activations: a1 comes from the
// hidden states (RandomLayer), a2 from the independent evaluation's amax.
void calibrate_static_scales(tools::RandomLayer& layer, const tools::ExactOutput& exact) {
  const float a2 = exact.intermediate_amax > 0.0
                       ? static_cast<float>(exact.intermediate_amax / numerics::kFp8E4M3Max)
                       : 1.0f;
  layer.set_intermediate_scale(a2);
  std::printf("scales    static fp8 activation scales from this batch: a1 = amax(hidden)/448 = "
              "%.4g, a2 = amax(intermediate)/448 = %.4g\n",
              layer.input_scale(), a2);
}

}  // namespace

int run_command(const std::vector<std::string>& args) {
  const RunRequest request = parse_run_request(args);
  const MoeConfig& moe = request.spec.moe;
  const RoutingConfig& routing = request.spec.routing;

  const tools::BackendChoice choice = tools::choose_backend(request.device, moe, routing);
  if (!choice.available) {
    std::fprintf(stderr, "fusedmoe run: --device cuda cannot run this request: %s\n",
                 choice.why.c_str());
    return kExitUsage;
  }
  bool on_cuda = choice.backend == Backend::kCudaSm90;
  print_run_header(request, choice);

  // Routing first, so that only the experts it selects need generating.
  auto phase_start = std::chrono::steady_clock::now();
  tools::RandomLayer layer(request.spec, request.tokens, request.seed, request.logits_dtype);
  const tools::RoutedIds routed = tools::route_on_cpu(layer);
  const tools::ExactRouting exact_routing = tools::route_exact(moe, routing, layer.routing_inputs());
  const bool all_experts = request.all_experts || on_cuda;
  if (all_experts) {
    layer.generate_all_experts();
  } else {
    layer.generate_experts(tools::local_experts_hit(moe, routed.ids));
    layer.generate_experts(tools::local_experts_hit(moe, exact_routing.ids));
  }
  std::printf("experts   generated %d of %d local experts in %s%s\n", layer.generated_expert_count(),
              moe.local_experts(), format_seconds(seconds_since(phase_start)).c_str(),
              all_experts ? "" : " (experts never selected are not generated)");

  phase_start = std::chrono::steady_clock::now();
  const tools::ExactOutput exact =
      tools::moe_exact(moe, routing, layer.hidden_states(), exact_routing, layer.weights());
  const double exact_seconds = seconds_since(phase_start);
  if (request.format == WeightFormat::kFP8PerTensor) calibrate_static_scales(layer, exact);

  // query_support sees the configuration only; a weight-dependent feature it cannot see (expert
  // biases, for one) is refused by the call itself, with the reason.
  tools::TimedOutput run;
  if (on_cuda) {
    try {
      run = tools::fused_on_cuda(layer, 0, request.iterations);
    } catch (const Error& error) {
      if (error.kind() != ErrorKind::kUnsupported) throw;
      if (request.device == tools::DeviceRequest::kCuda) {
        std::fprintf(stderr, "fusedmoe run: --device cuda cannot run this request: %s\n", error.what());
        return kExitUsage;
      }
      std::printf("device    cuda-sm90 refused the call (%s); running the CPU reference instead\n",
                  error.what());
      on_cuda = false;
    }
  }
  if (!on_cuda) run = tools::fused_on_cpu(layer);
  const std::string per_call =
      on_cuda ? " per call (mean of " + std::to_string(run.iterations) + ")" : "";
  std::printf("run       moe_fused on %s: %s%s\n",
              backend_name(on_cuda ? Backend::kCudaSm90 : Backend::kCpuReference),
              format_seconds(run.seconds).c_str(), per_call.c_str());

  const tools::Tolerance tolerance = tools::tolerance_for(request.format);
  phase_start = std::chrono::steady_clock::now();
  const tools::TimedOutput same_semantics =
      on_cuda ? tools::fused_on_cpu(layer) : tools::routed_on_cpu(layer, routed);
  // On the CPU the contract is bitwise (moe.h: routed given fused's ids and weights is
  // bit-identical), so the bound is zero.
  const tools::Bound first_bound = on_cuda ? tolerance.vs_reference : tools::Bound{0.0, 0.0};
  const tools::ErrorMetrics first = tools::compare(run.output, same_semantics.output);
  const tools::Verdict first_verdict = tools::judge(first, first_bound);
  print_check("check 1",
              on_cuda ? "CUDA moe_fused vs CPU reference moe_fused (same quantization steps)"
                      : "moe_fused vs moe_routed fed moe_route's ids and weights (same plan, "
                        "must be bit-identical)",
              first, first_verdict);

  const tools::ErrorMetrics second = tools::compare(run.output, exact.output);
  const tools::Verdict second_verdict = tools::judge(second, tolerance.vs_exact);
  print_check("check 2",
              "moe_fused vs independent double-precision evaluation (own routing, dequantized "
              "weights, unquantized activations)",
              second, second_verdict);
  const int64_t disagreements = routing_disagreements(routed.ids, exact_routing.ids, moe.top_k);
  const std::string agreement =
      disagreements == 0 ? "agrees with moe_route on all " + std::to_string(request.tokens) + " tokens"
                         : "DIFFERS from moe_route on " + std::to_string(disagreements) + " tokens";
  std::printf("          routing: the independent top-k %s\n", agreement.c_str());
  std::printf("          checks took %s (reference) + %s (double evaluation)\n",
              format_seconds(seconds_since(phase_start)).c_str(), format_seconds(exact_seconds).c_str());

  print_roofline(request, layer, routed.ids, run.seconds, on_cuda);
  const bool pass = first_verdict.pass && second_verdict.pass;
  std::printf("result    %s\n", pass ? "PASS" : "FAIL");
  return pass ? kExitPass : kExitFail;
}

}  // namespace fusedmoe::cli
