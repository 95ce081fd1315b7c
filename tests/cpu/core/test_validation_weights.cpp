// Weight errors, per format (shape table of include/fusedmoe/weights.h), through moe_routed on
// host tensors.
#include <gtest/gtest.h>

#include "core/validate.h"
#include "test_validation_helpers.h"

namespace fusedmoe::testing {
namespace {

class ValidationWeights : public ::testing::Test {
 protected:
  void use_format(WeightFormat format, ActivationQuant quant, int32_t intermediate = 128) {
    MoeConfig moe = small_moe();
    moe.weight_format = format;
    moe.activation_quant = quant;
    moe.intermediate_size = intermediate;
    use_config(moe);
  }

  void use_config(const MoeConfig& moe) {
    plan_ = cpu_plan(moe);
    args_ = routed_args(tensors_, plan_);
  }

  void expect_weights_error(std::initializer_list<std::string> fragments) {
    expect_invalid(
        [&] { moe_routed(plan_, args_.inputs, args_.weights, args_.output, {}, nullptr); },
        fragments);
  }

  void expect_valid() {
    EXPECT_NO_THROW(detail::validate_routed(plan_, args_.inputs, args_.weights, args_.output, {}));
  }

  TensorFactory tensors_{cpu_device()};
  MoePlan plan_ = cpu_plan();
  RoutedArgs args_ = routed_args(tensors_, plan_);
};

TEST_F(ValidationWeights, EveryFormatWithItsScalesPasses) {
  expect_valid();
  use_format(WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerTensor);
  expect_valid();
  use_format(WeightFormat::kFP8Block128, ActivationQuant::kFP8Group128, 192);
  expect_valid();
  use_format(WeightFormat::kMXFP4, ActivationQuant::kNone);
  expect_valid();
  use_format(WeightFormat::kNVFP4, ActivationQuant::kFP8PerToken);
  expect_valid();
}

TEST_F(ValidationWeights, RejectsBf16MatrixForFp8Format) {
  use_format(WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerToken);
  args_.weights.w13 = tensors_.make(DType::kBFloat16, {8, 256, 256});
  expect_weights_error(
      {"'weights.w13'", "expected dtype float8_e4m3 (weight format fp8)", "got bfloat16"});
}

TEST_F(ValidationWeights, RejectsGatedW13WithOnlyIRows) {
  args_.weights.w13 = tensors_.make(DType::kBFloat16, {8, 128, 256});
  expect_weights_error(
      {"'weights.w13'", "expected shape [8, 256, 256]", "got shape [8, 128, 256]"});
}

TEST_F(ValidationWeights, AcceptsNonGatedW13WithIRows) {
  MoeConfig moe = small_moe();
  moe.activation = Activation::kReLU2;
  use_config(moe);
  EXPECT_EQ(args_.weights.w13.shape[1], 128);
  expect_valid();
}

TEST_F(ValidationWeights, RejectsTransposedW2) {
  args_.weights.w2 = tensors_.make(DType::kBFloat16, {8, 128, 256});
  expect_weights_error({"'weights.w2'", "expected shape [8, 256, 128]", "got shape [8, 128, 256]"});
}

TEST_F(ValidationWeights, RejectsNonContiguousW13) {
  args_.weights.w13 =
      tensors_.strided(DType::kBFloat16, {8, 256, 256}, {256 * 512, 512, 1}, 8 * 256 * 512 * 2);
  expect_weights_error(
      {"'weights.w13'", "a contiguous (row-major) tensor", "got strides [131072, 512, 1]"});
}

TEST_F(ValidationWeights, RejectsWeightsOfAllExpertsOnAnExpertParallelRank) {
  MoeConfig moe = small_moe();
  moe.local_expert_offset = 4;
  moe.num_local_experts = 4;
  use_config(moe);
  args_.weights.w2 = tensors_.make(DType::kBFloat16, {8, 256, 128});
  expect_weights_error({"'weights.w2'", "expected shape [4, 256, 128]", "got shape [8, 256, 128]"});
}

TEST_F(ValidationWeights, RejectsPerTensorScaleOfWrongShape) {
  use_format(WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerToken);
  args_.weights.w2_scale = tensors_.make(DType::kFloat32, {1});
  expect_weights_error({"'weights.w2_scale'", "expected shape [8]", "got shape [1]"});
}

TEST_F(ValidationWeights, RejectsMissingStaticActivationScale) {
  use_format(WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerTensor);
  args_.weights.a1_scale = TensorView{};
  expect_weights_error({"'weights.a1_scale'", "expected a tensor", "got none"});
}

TEST_F(ValidationWeights, RejectsStaticActivationScaleOfWrongShape) {
  use_format(WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerTensor);
  args_.weights.a2_scale = tensors_.make(DType::kFloat32, {3});
  expect_weights_error({"'weights.a2_scale'", "expected shape [1] or [8]", "got shape [3]"});
}

TEST_F(ValidationWeights, RejectsStaticActivationScaleWithDynamicQuant) {
  use_format(WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerToken);
  args_.weights.a1_scale = tensors_.make(DType::kFloat32, {1});
  expect_weights_error({"'weights.a1_scale'", "expected no tensor", "fp8-per-token"});
}

TEST_F(ValidationWeights, RejectsBlockScaleRoundedDown) {
  use_format(WeightFormat::kFP8Block128, ActivationQuant::kFP8Group128, 192);
  // w2 [8, 256, 192]: ceil(192 / 128) = 2 blocks along K, not 1.
  args_.weights.w2_scale = tensors_.make(DType::kFloat32, {8, 2, 1});
  expect_weights_error({"'weights.w2_scale'", "expected shape [8, 2, 2]", "got shape [8, 2, 1]"});
}

TEST_F(ValidationWeights, AcceptsUe8m0BlockScales) {
  use_format(WeightFormat::kFP8Block128, ActivationQuant::kFP8Group128);
  args_.weights.w13_scale = tensors_.make(DType::kUE8M0, {8, 2, 2});
  args_.weights.w2_scale = tensors_.make(DType::kUE8M0, {8, 2, 1});
  expect_valid();
}

TEST_F(ValidationWeights, RejectsFloatScalesForMxfp4) {
  use_format(WeightFormat::kMXFP4, ActivationQuant::kNone);
  args_.weights.w13_scale = tensors_.make(DType::kFloat32, {8, 256, 8});
  expect_weights_error(
      {"'weights.w13_scale'", "expected dtype ue8m0 (mxfp4 block scales)", "got float32"});
}

TEST_F(ValidationWeights, RejectsUnpackedFp4Matrix) {
  use_format(WeightFormat::kMXFP4, ActivationQuant::kNone);
  args_.weights.w2 = tensors_.make(DType::kFloat4E2M1x2, {8, 256, 128});
  expect_weights_error({"'weights.w2'", "expected shape [8, 256, 64]", "got shape [8, 256, 128]"});
}

TEST_F(ValidationWeights, RejectsNvfp4WithoutGlobalScale) {
  use_format(WeightFormat::kNVFP4, ActivationQuant::kNone);
  args_.weights.w2_global_scale = TensorView{};
  expect_weights_error({"'weights.w2_global_scale'", "expected a tensor", "got none"});
}

TEST_F(ValidationWeights, RejectsGlobalScaleForMxfp4) {
  use_format(WeightFormat::kMXFP4, ActivationQuant::kNone);
  args_.weights.w13_global_scale = tensors_.make(DType::kFloat32, {8});
  expect_weights_error({"'weights.w13_global_scale'", "expected no tensor", "only nvfp4"});
}

TEST_F(ValidationWeights, RejectsScaleForBf16Weights) {
  args_.weights.w13_scale = tensors_.make(DType::kFloat32, {8});
  expect_weights_error({"'weights.w13_scale'", "expected no tensor", "bf16 has no such scale"});
}

TEST_F(ValidationWeights, RejectsBiasOfWrongShape) {
  args_.weights.w13_bias = tensors_.make(DType::kFloat32, {8, 128});
  expect_weights_error({"'weights.w13_bias'", "expected shape [8, 256]", "got shape [8, 128]"});
}

TEST_F(ValidationWeights, RejectsLayoutOutOfRange) {
  args_.weights.layout = static_cast<WeightLayout>(5);
  expect_weights_error({"'weights.layout'", "WeightLayout value in [0, 1]", "got 5"});
}

}  // namespace
}  // namespace fusedmoe::testing
