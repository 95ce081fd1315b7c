// `fusedmoe run`: builds a seeded random layer of a model preset, runs the fused entry point on
// the chosen backend, verifies it two ways and prints errors, time and % of the roofline floor.
//
//   check 1 (same semantics, same rounding): on the CPU, moe_fused against moe_routed fed
//           moe_route's ids and weights (expected bit-identical); on CUDA, the kernels against
//           the CPU reference's moe_fused (tolerance per format).
//   check 2 (independent): the output against a double-precision evaluation written apart from
//           the library (exact_moe.h): own routing, dequantized stored weights, unquantized
//           activations. Its tolerance absorbs the activation rounding/quantization the library
//           applies on purpose.
#include <algorithm>
#include <chrono>
#include <cstdio>

#include "cli/commands.h"
#include "cli/run_request.h"
#include "cli/units.h"
#include "common/exact_moe.h"
#include "common/layer_runner.h"
#include "common/metrics.h"
#include "common/random_layer.h"
#include "common/roofline.h"
#include "common/weight_formats.h"
#include "core/host_numerics.h"

namespace fusedmoe::cli {

namespace {

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

void print_layer(const RunRequest& request) {
  const MoeConfig& moe = request.spec.moe;
  const tools::ModelPreset& preset = tools::find_preset(request.spec.model);
  std::printf("layer     H=%d I=%d E=%d top-k=%d, local experts [%d, %d)", moe.hidden_size,
              moe.intermediate_size, moe.num_experts, moe.top_k, moe.local_expert_offset,
              moe.local_expert_offset + moe.local_experts());
  if (request.spec.parallelism.tp > 1) std::printf(", --tp %d", request.spec.parallelism.tp);
  if (request.spec.parallelism.ep > 1) {
    std::printf(", --ep %d --ep-rank %d", request.spec.parallelism.ep, request.spec.parallelism.ep_rank);
  }
  std::printf("\n          routing %s; activation %s; router logits %s\n",
              tools::routing_summary(preset).c_str(), tools::activation_summary(preset).c_str(),
              request.logits_dtype == LogitsDType::kFloat32 ? "fp32" : "bf16");
  if (preset.shared_expert != "none") {
    std::printf("          (%s not part of this layer: the library adds a caller-computed "
                "shared_output)\n",
                preset.shared_expert.c_str());
  }
  std::printf("format    %s: %s\n", weight_format_name(request.format),
              tools::weight_format_description(request.format).c_str());
}

// Token rows whose selected expert sets differ between the two routings (order within a row
// does not matter).
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

void print_metrics(const char* label, const std::string& what, const tools::ErrorMetrics& metrics,
                   const tools::Verdict& verdict) {
  std::printf("%-9s %s\n", label, what.c_str());
  std::printf("          rel L2 %.3e, max abs err %.3e (max |expected| %.3e, max rel %.3e), "
              "cosine %.6f, NaN/Inf %lld%s -> %s (%s)\n",
              metrics.rel_l2, metrics.max_abs_err, metrics.max_abs_expected, metrics.max_rel,
              metrics.cosine,
              static_cast<long long>(metrics.nonfinite_actual + metrics.nonfinite_expected),
              metrics.bitwise_equal ? ", bitwise identical" : "", verdict.pass ? "PASS" : "FAIL",
              verdict.reason.c_str());
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
  const bool on_cuda = choice.backend == Backend::kCudaSm90;

  std::printf("fusedmoe %s run: %s, %d tokens, format %s, seed %llu\n", version(),
              request.spec.model.c_str(), request.tokens, weight_format_name(request.format),
              static_cast<unsigned long long>(request.seed));
  print_layer(request);
  std::printf("device    %s (%s)\n", backend_name(choice.backend), choice.why.c_str());

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
  const double generate_seconds = seconds_since(phase_start);
  std::printf("experts   generated %d of %d local experts in %s%s\n", layer.generated_expert_count(),
              moe.local_experts(), format_seconds(generate_seconds).c_str(),
              all_experts ? "" : " (experts never selected are not generated)");

  phase_start = std::chrono::steady_clock::now();
  const tools::ExactOutput exact =
      tools::moe_exact(moe, routing, layer.hidden_states(), exact_routing, layer.weights());
  const double exact_seconds = seconds_since(phase_start);
  if (request.format == WeightFormat::kFP8PerTensor) {
    const float a2 = exact.intermediate_amax > 0.0
                         ? static_cast<float>(exact.intermediate_amax / numerics::kFp8E4M3Max)
                         : 1.0f;
    layer.set_intermediate_scale(a2);
    std::printf("scales    static fp8 activation scales from this batch: a1 = amax(hidden)/448 = "
                "%.4g, a2 = amax(intermediate)/448 = %.4g\n",
                layer.input_scale(), a2);
  }

  const tools::TimedOutput run =
      on_cuda ? tools::fused_on_cuda(layer, 0, request.iterations) : tools::fused_on_cpu(layer);
  std::printf("run       moe_fused on %s: %s%s\n", backend_name(choice.backend),
              format_seconds(run.seconds).c_str(),
              on_cuda ? (" per call (mean of " + std::to_string(run.iterations) + ")").c_str() : "");

  const tools::Tolerance tolerance = tools::tolerance_for(request.format);
  phase_start = std::chrono::steady_clock::now();
  tools::TimedOutput check_one;
  std::string check_one_what;
  if (on_cuda) {
    check_one = tools::fused_on_cpu(layer);
    check_one_what = "CUDA moe_fused vs CPU reference moe_fused (same quantization steps)";
  } else {
    check_one = tools::routed_on_cpu(layer, routed);
    check_one_what = "moe_fused vs moe_routed fed moe_route's ids and weights (same plan)";
  }
  const tools::ErrorMetrics first = tools::compare(run.output, check_one.output);
  const tools::Verdict first_verdict = tools::judge(first, tolerance.vs_reference);
  print_metrics("check 1", check_one_what, first, first_verdict);

  const int64_t disagreements = routing_disagreements(routed.ids, exact_routing.ids, moe.top_k);
  const tools::ErrorMetrics second = tools::compare(run.output, exact.output);
  const tools::Verdict second_verdict = tools::judge(second, tolerance.vs_exact);
  print_metrics("check 2",
                "moe_fused vs independent double-precision evaluation (own routing, dequantized "
                "weights, unquantized activations)",
                second, second_verdict);
  std::printf("          routing: the independent top-k %s moe_route on %s\n",
              disagreements == 0 ? "agrees with" : "DIFFERS from",
              disagreements == 0 ? ("all " + std::to_string(request.tokens) + " tokens").c_str()
                                 : (std::to_string(disagreements) + " tokens").c_str());
  std::printf("          checks took %s (reference) + %s (double evaluation)\n",
              format_seconds(seconds_since(phase_start)).c_str(),
              format_seconds(exact_seconds).c_str());

  const tools::Ceilings ceilings = tools::h100_reference_ceilings();
  const double logits_bytes = request.logits_dtype == LogitsDType::kFloat32 ? 4.0 : 2.0;
  const tools::Traffic traffic = tools::layer_traffic(moe, routed.ids.data(), request.tokens,
                                                      layer.weight_bytes_per_expert(), logits_bytes);
  const bool fp8_rate = tools::uses_fp8_matrix_rate(request.format);
  const tools::Floor floor = tools::roofline_floor(traffic, ceilings, fp8_rate);
  std::printf("roofline  floor %s on %s (%.2f TB/s read, %.0f TF/s %s): experts hit %lld x %s + "
              "activations/logits %s = %s; %s; %s-bound\n",
              format_seconds(floor.seconds()).c_str(), ceilings.name.c_str(),
              ceilings.read_bytes_per_second / 1e12,
              (fp8_rate ? ceilings.fp8_flops_per_second : ceilings.bf16_flops_per_second) / 1e12,
              fp8_rate ? "fp8" : "bf16", static_cast<long long>(traffic.experts_hit),
              format_bytes(layer.weight_bytes_per_expert()).c_str(),
              format_bytes(traffic.activation_bytes + traffic.logits_bytes).c_str(),
              format_bytes(traffic.total_bytes()).c_str(), format_flops(traffic.flops).c_str(),
              floor.memory_bound() ? "memory" : "compute");
  std::printf("          this run reaches %.3g%% of the floor%s\n",
              100.0 * floor.seconds() / run.seconds,
              on_cuda ? "" : " (CPU reference time against an H100 floor: not a performance number)");

  const bool pass = first_verdict.pass && second_verdict.pass;
  std::printf("result    %s\n", pass ? "PASS" : "FAIL");
  return pass ? kExitPass : kExitFail;
}

}  // namespace fusedmoe::cli
