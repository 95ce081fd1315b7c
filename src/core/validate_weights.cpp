#include "core/validate_weights.h"

#include <string>

#include "core/check.h"

namespace fusedmoe::detail {

namespace {

const char* layout_name(WeightLayout layout) {
  return layout == WeightLayout::kSm90Prepared ? "sm90-prepared" : "checkpoint";
}

int64_t ceil_div(int64_t value, int64_t divisor) { return (value + divisor - 1) / divisor; }

void check_layout(const ExpertWeights& weights, WeightLayout expected) {
  check_enum(weights.layout, "weights.layout", "WeightLayout", WeightLayout::kSm90Prepared);
  if (weights.layout == expected) return;
  const std::string hint = expected == WeightLayout::kSm90Prepared
                               ? " (call fusedmoe::prepare_weights once after loading)"
                               : " (the CPU reference and prepare_weights read checkpoint layout)";
  throw_invalid("weights.layout", layout_name(expected) + hint, layout_name(weights.layout));
}

// Shapes of one format, from the table in weights.h.
struct WeightShapes {
  int64_t local_experts;  // E_l
  int64_t hidden;         // H
  int64_t intermediate;   // I
  int64_t gemm1_rows;     // N1: 2I gated, I non-gated
};

void check_matrices(CallChecker& checker, const ExpertWeights& weights, const WeightShapes& s,
                    DType dtype, int64_t values_per_element, const std::string& format) {
  const DTypes accepted = DTypes{dtype}.because("weight format " + format);
  checker.require(weights.w13, "weights.w13", accepted,
                  {s.local_experts, s.gemm1_rows, s.hidden / values_per_element},
                  Memory::kContiguousAligned);
  checker.require(weights.w2, "weights.w2", accepted,
                  {s.local_experts, s.hidden, s.intermediate / values_per_element},
                  Memory::kContiguousAligned);
}

// Block scales along K (fp8 128x128 blocks, or fp4 blocks of `block` values per row).
void check_block_scales(CallChecker& checker, const ExpertWeights& weights, const WeightShapes& s,
                        const DTypes& accepted, int64_t row_block, int64_t k_block) {
  checker.require(weights.w13_scale, "weights.w13_scale", accepted,
                  {s.local_experts, ceil_div(s.gemm1_rows, row_block), ceil_div(s.hidden, k_block)},
                  Memory::kContiguous);
  checker.require(
      weights.w2_scale, "weights.w2_scale", accepted,
      {s.local_experts, ceil_div(s.hidden, row_block), ceil_div(s.intermediate, k_block)},
      Memory::kContiguous);
}

void check_per_expert(CallChecker& checker, const TensorView& view, const char* name,
                      int64_t local_experts) {
  checker.require(view, name, DTypes{DType::kFloat32}, {local_experts}, Memory::kContiguous);
}

void check_format(CallChecker& checker, const MoeConfig& moe, const ExpertWeights& weights,
                  const WeightShapes& s) {
  const std::string format = weight_format_name(moe.weight_format);
  const std::string unused = "weight format " + format + " has no such scale";
  switch (moe.weight_format) {
    case WeightFormat::kBF16:
      check_matrices(checker, weights, s, DType::kBFloat16, 1, format);
      CallChecker::forbid(weights.w13_scale, "weights.w13_scale", unused);
      CallChecker::forbid(weights.w2_scale, "weights.w2_scale", unused);
      break;
    case WeightFormat::kFP8PerTensor:
      check_matrices(checker, weights, s, DType::kFloat8E4M3, 1, format);
      check_per_expert(checker, weights.w13_scale, "weights.w13_scale", s.local_experts);
      check_per_expert(checker, weights.w2_scale, "weights.w2_scale", s.local_experts);
      break;
    case WeightFormat::kFP8Block128:
      check_matrices(checker, weights, s, DType::kFloat8E4M3, 1, format);
      check_block_scales(checker, weights, s, DTypes{DType::kFloat32, DType::kUE8M0}, 128, 128);
      break;
    case WeightFormat::kMXFP4:
      check_matrices(checker, weights, s, DType::kFloat4E2M1x2, 2, format);
      check_block_scales(checker, weights, s, DTypes{DType::kUE8M0}.because("mxfp4 block scales"),
                         1, 32);
      break;
    case WeightFormat::kNVFP4:
      check_matrices(checker, weights, s, DType::kFloat4E2M1x2, 2, format);
      check_block_scales(checker, weights, s,
                         DTypes{DType::kFloat8E4M3}.because("nvfp4 block scales"), 1, 16);
      break;
  }
  if (moe.weight_format == WeightFormat::kNVFP4) {
    check_per_expert(checker, weights.w13_global_scale, "weights.w13_global_scale",
                     s.local_experts);
    check_per_expert(checker, weights.w2_global_scale, "weights.w2_global_scale", s.local_experts);
  } else {
    const std::string reason = "only nvfp4 has a global scale, the format is " + format;
    CallChecker::forbid(weights.w13_global_scale, "weights.w13_global_scale", reason);
    CallChecker::forbid(weights.w2_global_scale, "weights.w2_global_scale", reason);
  }
}

// One fp32 scale for all experts [1], or one per local expert [E_l].
void check_static_scale(CallChecker& checker, const TensorView& view, const char* name,
                        int64_t local_experts) {
  checker.require_placed(view, name, DTypes{DType::kFloat32});
  check_shape_either(view, name, {1}, {local_experts});
  checker.check_memory(view, name, Memory::kContiguous);
}

// Static activation scales: exactly when activations are quantized per tensor.
void check_activation_scales(CallChecker& checker, const MoeConfig& moe,
                             const ExpertWeights& weights, int64_t local_experts) {
  if (moe.activation_quant != ActivationQuant::kFP8PerTensor) {
    const std::string reason = std::string(
                                   "static activation scales are read only with "
                                   "activation_quant fp8-per-tensor, not ") +
                               activation_quant_name(moe.activation_quant);
    CallChecker::forbid(weights.a1_scale, "weights.a1_scale", reason);
    CallChecker::forbid(weights.a2_scale, "weights.a2_scale", reason);
    return;
  }
  check_static_scale(checker, weights.a1_scale, "weights.a1_scale", local_experts);
  check_static_scale(checker, weights.a2_scale, "weights.a2_scale", local_experts);
}

}  // namespace

WeightLayout compute_layout(Backend backend) {
  return backend == Backend::kCudaSm90 ? WeightLayout::kSm90Prepared : WeightLayout::kCheckpoint;
}

void validate_weights(CallChecker& checker, const MoeConfig& moe, const ExpertWeights& weights,
                      WeightLayout expected_layout) {
  check_layout(weights, expected_layout);
  WeightShapes shapes;
  shapes.local_experts = moe.local_experts();
  shapes.hidden = moe.hidden_size;
  shapes.intermediate = moe.intermediate_size;
  shapes.gemm1_rows =
      activation_is_gated(moe.activation) ? 2 * shapes.intermediate : shapes.intermediate;
  check_format(checker, moe, weights, shapes);
  const DTypes bias_dtypes{DType::kFloat32, DType::kBFloat16};
  checker.optional(weights.w13_bias, "weights.w13_bias", bias_dtypes,
                   {shapes.local_experts, shapes.gemm1_rows}, Memory::kContiguous);
  checker.optional(weights.w2_bias, "weights.w2_bias", bias_dtypes,
                   {shapes.local_experts, shapes.hidden}, Memory::kContiguous);
  check_activation_scales(checker, moe, weights, shapes.local_experts);
}

}  // namespace fusedmoe::detail
