#include "cli/run_report.h"

#include <cstdio>

#include "cli/units.h"
#include "common/presets.h"
#include "common/roofline.h"
#include "common/weight_formats.h"

namespace fusedmoe::cli {

void print_run_header(const RunRequest& request, const tools::BackendChoice& choice) {
  const MoeConfig& moe = request.spec.moe;
  const tools::Parallelism& parallelism = request.spec.parallelism;
  const tools::ModelPreset& preset = tools::find_preset(request.spec.model);
  std::printf("fusedmoe %s run: %s, %d tokens, format %s, seed %llu\n", version(),
              request.spec.model.c_str(), request.tokens, weight_format_name(request.format),
              static_cast<unsigned long long>(request.seed));
  std::printf("layer     H=%d I=%d E=%d top-k=%d, local experts [%d, %d)", moe.hidden_size,
              moe.intermediate_size, moe.num_experts, moe.top_k, moe.local_expert_offset,
              moe.local_expert_offset + moe.local_experts());
  if (parallelism.tp > 1) std::printf(", --tp %d", parallelism.tp);
  if (parallelism.ep > 1) std::printf(", --ep %d --ep-rank %d", parallelism.ep, parallelism.ep_rank);
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
  std::printf("device    %s (%s)\n", backend_name(choice.backend), choice.why.c_str());
}

void print_check(const char* label, const std::string& what, const tools::ErrorMetrics& metrics,
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

void print_roofline(const RunRequest& request, const tools::RandomLayer& layer,
                    const std::vector<int32_t>& ids, double run_seconds, bool on_cuda) {
  const tools::Ceilings ceilings = tools::h100_reference_ceilings();
  const double logits_bytes = request.logits_dtype == LogitsDType::kFloat32 ? 4.0 : 2.0;
  const tools::Traffic traffic = tools::layer_traffic(layer.moe(), ids.data(), request.tokens,
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
  std::printf("          this run reaches %.3g%% of the floor%s\n", 100.0 * floor.seconds() / run_seconds,
              on_cuda ? "" : " (CPU reference time against an H100 floor: not a performance number)");
}

}  // namespace fusedmoe::cli
