#include "common/weight_formats.h"

#include "common/tool_error.h"

namespace fusedmoe::tools {

namespace {

constexpr WeightFormat kFormats[] = {WeightFormat::kBF16, WeightFormat::kFP8PerTensor,
                                     WeightFormat::kFP8Block128, WeightFormat::kMXFP4,
                                     WeightFormat::kNVFP4};

// Values per scale along K for the block-scaled 4-bit formats; 0 when K is free.
int32_t k_block(WeightFormat format) {
  switch (format) {
    case WeightFormat::kMXFP4: return 32;
    case WeightFormat::kNVFP4: return 16;
    default: return 0;
  }
}

void check_k_multiple(const char* what, int32_t size, WeightFormat format) {
  const int32_t block = k_block(format);
  if (block == 0 || size % block == 0) return;
  const int32_t padded = (size + block - 1) / block * block;
  throw UsageError(std::string(what) + " = " + std::to_string(size) + " is not a multiple of " +
                   std::to_string(block) + ", which " + weight_format_name(format) +
                   " needs along K; a checkpoint would be zero-padded to " +
                   std::to_string(padded) + " (pick another --tp or format)");
}

}  // namespace

std::vector<std::string> weight_format_names() {
  std::vector<std::string> names;
  for (WeightFormat format : kFormats) names.emplace_back(weight_format_name(format));
  return names;
}

WeightFormat parse_weight_format(const std::string& name) {
  for (WeightFormat format : kFormats) {
    if (name == weight_format_name(format)) return format;
  }
  std::string known;
  for (const std::string& known_name : weight_format_names()) {
    known += (known.empty() ? "" : "|") + known_name;
  }
  throw UsageError("unknown format '" + name + "'; expected " + known);
}

std::string weight_format_description(WeightFormat format) {
  switch (format) {
    case WeightFormat::kBF16: return "bf16 weights, bf16 activations";
    case WeightFormat::kFP8PerTensor:
      return "e4m3 weights with one scale per expert matrix; activations e4m3 with static "
             "per-tensor scales a1/a2";
    case WeightFormat::kFP8Block128:
      return "e4m3 weights with 128x128 block scales; activations e4m3 per 1x128 group";
    case WeightFormat::kMXFP4:
      return "e2m1 weights with a ue8m0 scale per 32 values; bf16 activations (W4A16)";
    case WeightFormat::kNVFP4:
      return "e2m1 weights with an e4m3 scale per 16 values and an fp32 global scale; bf16 "
             "activations (W4A16)";
  }
  return "";
}

ActivationQuant activation_quant_for(WeightFormat format) {
  switch (format) {
    case WeightFormat::kFP8PerTensor: return ActivationQuant::kFP8PerTensor;
    case WeightFormat::kFP8Block128: return ActivationQuant::kFP8Group128;
    case WeightFormat::kBF16:
    case WeightFormat::kMXFP4:
    case WeightFormat::kNVFP4: return ActivationQuant::kNone;
  }
  return ActivationQuant::kNone;
}

bool uses_fp8_matrix_rate(WeightFormat format) {
  return activation_quant_for(format) != ActivationQuant::kNone;
}

void apply_weight_format(MoeConfig& moe, WeightFormat format) {
  check_k_multiple("hidden size H", moe.hidden_size, format);
  check_k_multiple("intermediate size I (per --tp rank)", moe.intermediate_size, format);
  moe.weight_format = format;
  moe.activation_quant = activation_quant_for(format);
  moe.activation_scale_format = ScaleFormat::kFloat32;
}

}  // namespace fusedmoe::tools
