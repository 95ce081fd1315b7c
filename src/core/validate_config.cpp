// Configuration checks: MoeConfig, RoutingConfig, PlanOptions. Each rule rejects a combination
// that would otherwise run and be silently wrong (an ignored flag, a weight format read with the
// wrong activation path, a grouped top-k that cannot fill k slots).
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <limits>
#include <sstream>
#include <string>

#include "core/check.h"
#include "core/validate.h"
#include "core/validate_parts.h"
#include "gemm/sm90/grouped_gemm_bf16.h"

namespace fusedmoe::detail {

namespace {

std::string join(const char* prefix, const char* field) { return std::string(prefix) + field; }

// Shortest round-trip text of a float ("7", "0.5", "inf", "nan"), unlike std::to_string's
// "7.000000".
std::string float_text(float value) {
  std::ostringstream text;
  text << std::setprecision(9) << value;
  return text.str();
}

void check_enums(const MoeConfig& moe, const char* prefix) {
  check_enum(moe.activation, join(prefix, "activation"), "Activation", Activation::kGeLUTanh);
  check_enum(moe.gate_up_layout, join(prefix, "gate_up_layout"), "GateUpLayout",
             GateUpLayout::kInterleaved);
  check_enum(moe.weight_format, join(prefix, "weight_format"), "WeightFormat",
             WeightFormat::kNVFP4);
  check_enum(moe.activation_quant, join(prefix, "activation_quant"), "ActivationQuant",
             ActivationQuant::kFP8Group128);
  check_enum(moe.activation_scale_format, join(prefix, "activation_scale_format"), "ScaleFormat",
             ScaleFormat::kUE8M0);
  check_enum(moe.router_weight_apply, join(prefix, "router_weight_apply"), "RouterWeightApply",
             RouterWeightApply::kOnInput);
}

void check_sizes_and_experts(const MoeConfig& moe, const char* prefix) {
  const long long int_max = std::numeric_limits<int32_t>::max();
  check_int_range(moe.hidden_size, join(prefix, "hidden_size"), 1, int_max);
  check_int_range(moe.intermediate_size, join(prefix, "intermediate_size"), 1, int_max);
  check_int_range(moe.num_experts, join(prefix, "num_experts"), 1, kMaxExperts,
                  "kMaxExperts = " + std::to_string(kMaxExperts));
  const int32_t top_k_limit = std::min(kMaxTopK, moe.num_experts);
  check_int_range(moe.top_k, join(prefix, "top_k"), 1, top_k_limit,
                  "at most num_experts = " + std::to_string(moe.num_experts) +
                      " and kMaxTopK = " + std::to_string(kMaxTopK));
  check_int_range(moe.local_expert_offset, join(prefix, "local_expert_offset"), 0,
                  moe.num_experts - 1,
                  "the first local expert is a global id in [0, num_experts = " +
                      std::to_string(moe.num_experts) + ")");
  check_int_range(moe.num_local_experts, join(prefix, "num_local_experts"), 0,
                  moe.num_experts - moe.local_expert_offset,
                  "local experts [offset, offset + count) must lie inside num_experts = " +
                      std::to_string(moe.num_experts) + "; 0 means all from the offset");
}

void check_activation(const MoeConfig& moe, const char* prefix) {
  const bool gated = activation_is_gated(moe.activation);
  if (!gated && moe.gate_up_layout != GateUpLayout::kGateThenUp) {
    throw_invalid(join(prefix, "gate_up_layout"),
                  std::string("kGateThenUp for the non-gated activation '") +
                      activation_name(moe.activation) + "' (w13 holds only up rows)",
                  "GateUpLayout " + std::to_string(static_cast<int>(moe.gate_up_layout)));
  }
  const ActivationParams& params = moe.activation_params;
  if (!std::isfinite(params.alpha)) {
    throw_invalid(join(prefix, "activation_params.alpha"), "a finite value",
                  float_text(params.alpha));
  }
  if (!std::isfinite(params.beta)) {
    throw_invalid(join(prefix, "activation_params.beta"), "a finite value",
                  float_text(params.beta));
  }
  // NaN fails `> 0`; +inf is the documented "no clamping".
  if (!(params.clamp_limit > 0.0f)) {
    throw_invalid(join(prefix, "activation_params.clamp_limit"), "a value > 0 (+inf: no clamp)",
                  float_text(params.clamp_limit));
  }
  if (!gated && !std::isinf(params.clamp_limit)) {
    throw_invalid(join(prefix, "activation_params.clamp_limit"),
                  std::string("+inf for the non-gated activation '") +
                      activation_name(moe.activation) + "' (the clamp applies to gated ones only)",
                  float_text(params.clamp_limit));
  }
  if (moe.router_weight_apply == RouterWeightApply::kOnInput && moe.top_k != 1) {
    throw_invalid(join(prefix, "top_k"),
                  "1 with router_weight_apply = kOnInput (scaling the input by one router "
                  "weight is defined for one expert per token)",
                  std::to_string(moe.top_k));
  }
}

void check_quantization(const MoeConfig& moe, const char* prefix) {
  const ActivationQuant quant = moe.activation_quant;
  const std::string given = activation_quant_name(quant);
  const std::string format = weight_format_name(moe.weight_format);
  switch (moe.weight_format) {
    case WeightFormat::kBF16:
      if (quant != ActivationQuant::kNone) {
        throw_invalid(join(prefix, "activation_quant"), "none for weight format " + format, given);
      }
      break;
    case WeightFormat::kFP8PerTensor:
      if (quant != ActivationQuant::kFP8PerTensor && quant != ActivationQuant::kFP8PerToken) {
        throw_invalid(join(prefix, "activation_quant"),
                      "fp8-per-tensor or fp8-per-token for weight format " + format, given);
      }
      break;
    case WeightFormat::kFP8Block128:
      if (quant != ActivationQuant::kFP8Group128) {
        throw_invalid(join(prefix, "activation_quant"),
                      "fp8-group128 for weight format " + format + " (1x128 activation groups)",
                      given);
      }
      break;
    case WeightFormat::kMXFP4:
    case WeightFormat::kNVFP4:
      if (quant != ActivationQuant::kNone && !is_dynamic_fp8(quant)) {
        throw_invalid(
            join(prefix, "activation_quant"),
            "none (W4A16), fp8-per-token or fp8-group128 (W4A8) for weight format " + format,
            given);
      }
      break;
  }
  if (moe.activation_scale_format == ScaleFormat::kUE8M0 && !is_dynamic_fp8(quant)) {
    throw_invalid(join(prefix, "activation_scale_format"),
                  "kFloat32 with activation_quant " + given +
                      " (ue8m0 rounds dynamic fp8 scales: fp8-per-token or fp8-group128)",
                  "kUE8M0");
  }
  const int block = moe.weight_format == WeightFormat::kMXFP4   ? 32
                    : moe.weight_format == WeightFormat::kNVFP4 ? 16
                                                                : 1;
  if (block > 1) {
    const std::string expected = "a multiple of " + std::to_string(block) + " (" + format +
                                 " scales blocks of " + std::to_string(block) + " values along K)";
    if (moe.hidden_size % block != 0) {
      throw_invalid(join(prefix, "hidden_size"), expected, std::to_string(moe.hidden_size));
    }
    if (moe.intermediate_size % block != 0) {
      throw_invalid(join(prefix, "intermediate_size"), expected,
                    std::to_string(moe.intermediate_size));
    }
  }
}

}  // namespace

void validate_moe_config(const MoeConfig& moe, const char* prefix) {
  check_enums(moe, prefix);
  check_sizes_and_experts(moe, prefix);
  check_activation(moe, prefix);
  check_quantization(moe, prefix);
}

void validate_routing_config(const RoutingConfig& routing, const MoeConfig& moe, const char* prefix,
                             const char* moe_prefix) {
  check_enum(routing.method, join(prefix, "method"), "RoutingMethod", RoutingMethod::kSigmoidTopK);
  const std::string method = routing_method_name(routing.method);
  if (routing.method == RoutingMethod::kLlama4Top1Sigmoid && moe.top_k != 1) {
    throw_invalid(join(moe_prefix, "top_k"), "1 for routing method " + method,
                  std::to_string(moe.top_k));
  }
  check_int_range(routing.n_group, join(prefix, "n_group"), 1, moe.num_experts);
  if (routing.n_group > 1 && routing.method != RoutingMethod::kSigmoidGroupedTopK) {
    throw_invalid(join(prefix, "n_group"),
                  "1 for routing method " + method + " (only sigmoid_grouped_topk groups experts)",
                  std::to_string(routing.n_group));
  }
  if (moe.num_experts % routing.n_group != 0) {
    throw_invalid(
        join(prefix, "n_group"),
        "a divisor of num_experts = " + std::to_string(moe.num_experts) + " (groups of equal size)",
        std::to_string(routing.n_group));
  }
  const int32_t group_size = moe.num_experts / routing.n_group;
  if (routing.n_group > 1 && group_size < 2) {
    throw_invalid(join(prefix, "n_group"),
                  "at most num_experts / 2 = " + std::to_string(moe.num_experts / 2) +
                      " (a group is scored by its top-2 experts)",
                  std::to_string(routing.n_group));
  }
  check_int_range(routing.topk_group, join(prefix, "topk_group"), 1, routing.n_group,
                  "at most n_group = " + std::to_string(routing.n_group));
  if (static_cast<long long>(routing.topk_group) * group_size < moe.top_k) {
    throw_invalid(join(prefix, "topk_group"),
                  "topk_group * (num_experts / n_group) >= top_k = " + std::to_string(moe.top_k) +
                      " (the kept groups must hold top_k experts)",
                  std::to_string(routing.topk_group) + " groups of " + std::to_string(group_size));
  }
  const float factor = routing.routed_scaling_factor;
  if (!std::isfinite(factor) || !(factor > 0.0f)) {
    throw_invalid(join(prefix, "routed_scaling_factor"), "a finite value > 0", float_text(factor));
  }
}

// The grouped tiles a forced tactic (or gemm2_tactic) names, in GroupedTile order.
constexpr const char* kGroupedTileTactics = "(64x128, 128x128, 256x128, 128x256, 64x256)";

void validate_options(const PlanOptions& options, const MoeConfig& moe, const char* prefix) {
  check_enum(options.backend, join(prefix, "backend"), "Backend", Backend::kCudaSm90);
  check_enum(options.combine_mode, join(prefix, "combine_mode"), "CombineMode",
             CombineMode::kDeterministic);
  check_enum(options.expert_kernel, join(prefix, "expert_kernel"), "ExpertKernel",
             ExpertKernel::kGroupedTile);
  check_enum(options.token_gather, join(prefix, "token_gather"), "TokenGather", TokenGather::kIndex);
  // The GPU workspace is sized from max_num_tokens; the CPU reference needs none (0 = no bound).
  const long long min_tokens = options.backend == Backend::kCudaSm90 ? 1 : 0;
  check_int_range(options.max_num_tokens, join(prefix, "max_num_tokens"), min_tokens,
                  std::numeric_limits<int32_t>::max(),
                  options.backend == Backend::kCudaSm90 ? "the cuda-sm90 workspace is sized for it"
                                                        : "0 = no bound for the cpu reference");
  check_int_range(options.tactic, join(prefix, "tactic"), -1, std::numeric_limits<int32_t>::max(),
                  "-1 = heuristic default");
  // A forced tactic that nothing would honour must not pass silently.
  if (options.tactic >= 0) {
    const int32_t tactics = options.expert_kernel == ExpertKernel::kGroupedTile       ? sm90::kGroupedTileCount
                            : options.expert_kernel == ExpertKernel::kWeightStreaming ? 4
                                                                                      : 0;
    if (options.tactic >= tactics) {
      throw_unsupported(join(prefix, "tactic") + " = " + std::to_string(options.tactic) +
                        " with expert_kernel '" + expert_kernel_name(options.expert_kernel) +
                        "': forced tactics are 0..4 for grouped-tile " + kGroupedTileTactics +
                        " and 0..3 for weight-streaming (token tiles 8, 16, 32, 64); auto takes only the "
                        "heuristic default (-1)");
    }
  }
  check_int_range(options.gemm2_tactic, join(prefix, "gemm2_tactic"), -1, std::numeric_limits<int32_t>::max(),
                  "-1 = GEMM1's tile");
  if (options.gemm2_tactic >= 0) {
    if (options.expert_kernel != ExpertKernel::kGroupedTile) {
      throw_unsupported(join(prefix, "gemm2_tactic") + " = " + std::to_string(options.gemm2_tactic) +
                        " with expert_kernel '" + expert_kernel_name(options.expert_kernel) +
                        "': a GEMM2 tile of its own exists on the grouped-tile kernel only "
                        "(weight streaming runs both GEMMs in one token tile); use -1");
    }
    if (options.gemm2_tactic >= sm90::kGroupedTileCount) {
      throw_unsupported(join(prefix, "gemm2_tactic") + " = " + std::to_string(options.gemm2_tactic) +
                        ": forced GEMM2 tiles are 0..4 " + kGroupedTileTactics);
    }
  }
  if (static_cast<long long>(options.max_num_tokens) * moe.top_k >
      std::numeric_limits<int32_t>::max()) {
    throw_invalid(join(prefix, "max_num_tokens"),
                  "max_num_tokens * top_k <= 2^31 - 1 (int32 slot ids)",
                  std::to_string(options.max_num_tokens) + " * " + std::to_string(moe.top_k));
  }
}

void validate_config(const MoeConfig& moe, const RoutingConfig& routing,
                     const PlanOptions& options) {
  validate_moe_config(moe, "moe.");
  validate_routing_config(routing, moe, "routing.", "moe.");
  validate_options(options, moe, "options.");
}

void validate_plan(const MoePlan& plan) {
  validate_moe_config(plan.moe, "plan.moe.");
  validate_routing_config(plan.routing, plan.moe, "plan.routing.", "plan.moe.");
  validate_options(plan.options, plan.moe, "plan.options.");
}

}  // namespace fusedmoe::detail
