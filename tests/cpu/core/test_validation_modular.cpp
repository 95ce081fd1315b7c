// Tensor errors of the modular entry points: dispatch, experts, combine (host tensors).
#include <gtest/gtest.h>

#include "core/validate.h"
#include "test_validation_helpers.h"

namespace fusedmoe::testing {
namespace {

class ValidationDispatch : public ::testing::Test {
 protected:
  void expect_dispatch_error(std::initializer_list<std::string> fragments) {
    expect_invalid(
        [&] {
          moe_dispatch(plan_, args_.topk_ids, args_.row_alignment, args_.maps, args_.hidden_states,
                       args_.permuted_hidden, args_.permuted_hidden_scale, args_.workspace,
                       nullptr);
        },
        fragments);
  }

  // Switches the plan to fp8 group-128 activations with a quantizing gather.
  void use_fp8_gather() {
    MoeConfig moe = small_moe();
    moe.weight_format = WeightFormat::kFP8Block128;
    moe.activation_quant = ActivationQuant::kFP8Group128;
    plan_ = cpu_plan(moe);
    args_.permuted_hidden = tensors_.make(DType::kFloat8E4M3, {args_.rows, 256});
    args_.permuted_hidden_scale = tensors_.make(DType::kFloat32, {args_.rows, 2});
  }

  TensorFactory tensors_{cpu_device()};
  MoePlan plan_ = cpu_plan();
  DispatchArgs args_ = dispatch_args(tensors_, plan_);
};

TEST_F(ValidationDispatch, ValidArgumentsPass) {
  EXPECT_NO_THROW(detail::validate_dispatch(plan_, args_.topk_ids, args_.row_alignment, args_.maps,
                                            args_.hidden_states, args_.permuted_hidden,
                                            args_.permuted_hidden_scale, {}));
  use_fp8_gather();
  EXPECT_NO_THROW(detail::validate_dispatch(plan_, args_.topk_ids, args_.row_alignment, args_.maps,
                                            args_.hidden_states, args_.permuted_hidden,
                                            args_.permuted_hidden_scale, {}));
}

TEST_F(ValidationDispatch, MapsOnlyWithoutGatherPass) {
  EXPECT_NO_THROW(detail::validate_dispatch(plan_, args_.topk_ids, args_.row_alignment, args_.maps,
                                            TensorView{}, TensorView{}, TensorView{}, {}));
}

TEST_F(ValidationDispatch, RejectsRowAlignmentNotPowerOfTwo) {
  args_.row_alignment = 24;
  expect_dispatch_error({"'row_alignment'", "expected a power of two", "got 24"});
}

TEST_F(ValidationDispatch, RejectsRowAlignmentAbove256) {
  args_.row_alignment = 512;
  expect_dispatch_error({"'row_alignment'", "[1, 256]", "got 512"});
}

TEST_F(ValidationDispatch, RejectsRowToSlotTooShortForPadding) {
  args_.maps.row_to_slot = tensors_.make(DType::kInt32, {args_.rows - 1});
  expect_dispatch_error(
      {"'maps.row_to_slot'", "at least 128 rows", "4 * 2 + 8 * 15", "got 127 rows"});
}

TEST_F(ValidationDispatch, RejectsExpertOffsetsWithoutTrailingEntry) {
  args_.maps.expert_offsets = tensors_.make(DType::kInt32, {8});
  expect_dispatch_error({"'maps.expert_offsets'", "expected shape [9]", "got shape [8]"});
}

TEST_F(ValidationDispatch, RejectsInt64SlotToRow) {
  args_.maps.slot_to_row = tensors_.make(DType::kInt64, {kTokens, 2});
  expect_dispatch_error({"'maps.slot_to_row'", "expected dtype int32", "got int64"});
}

TEST_F(ValidationDispatch, RejectsMissingExpertCounts) {
  args_.maps.expert_counts = TensorView{};
  expect_dispatch_error({"'maps.expert_counts'", "expected a tensor", "got none"});
}

TEST_F(ValidationDispatch, RejectsFloatTopkIds) {
  args_.topk_ids = tensors_.make(DType::kBFloat16, {kTokens, 2});
  expect_dispatch_error({"'topk_ids'", "int32 or int64", "got bfloat16"});
}

TEST_F(ValidationDispatch, RejectsPermutedHiddenWithoutHiddenStates) {
  args_.hidden_states = TensorView{};
  expect_dispatch_error({"'hidden_states'", "the rows to gather", "got none (absent)"});
}

TEST_F(ValidationDispatch, RejectsHiddenStatesWithoutPermutedHidden) {
  args_.permuted_hidden = TensorView{};
  expect_dispatch_error({"'hidden_states'", "expected no tensor", "'permuted_hidden'"});
}

TEST_F(ValidationDispatch, RejectsFp8GatherWithoutActivationQuant) {
  args_.permuted_hidden = tensors_.make(DType::kFloat8E4M3, {args_.rows, 256});
  expect_dispatch_error({"'permuted_hidden'", "expected dtype bfloat16", "got float8_e4m3"});
}

TEST_F(ValidationDispatch, RejectsPermutedHiddenWithOtherRowCount) {
  args_.permuted_hidden = tensors_.make(DType::kBFloat16, {args_.rows + 8, 256});
  expect_dispatch_error({"'permuted_hidden'", "expected shape [128, 256]", "got shape [136, 256]"});
}

TEST_F(ValidationDispatch, RejectsScaleForUnquantizedGather) {
  args_.permuted_hidden_scale = tensors_.make(DType::kFloat32, {args_.rows});
  expect_dispatch_error({"'permuted_hidden_scale'", "expected no tensor", "not quantized"});
}

TEST_F(ValidationDispatch, RejectsPerRowScaleForStaticFp8Gather) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kFP8PerTensor;
  moe.activation_quant = ActivationQuant::kFP8PerTensor;
  plan_ = cpu_plan(moe);
  args_.permuted_hidden = tensors_.make(DType::kFloat8E4M3, {args_.rows, 256});
  args_.permuted_hidden_scale = tensors_.make(DType::kFloat32, {args_.rows});
  expect_dispatch_error({"'permuted_hidden_scale'", "expected shape [1]", "got shape [128]"});
}

TEST_F(ValidationDispatch, RejectsGroupScaleOfPerTokenShape) {
  use_fp8_gather();
  args_.permuted_hidden_scale = tensors_.make(DType::kFloat32, {args_.rows});
  expect_dispatch_error({"'permuted_hidden_scale'", "expected shape [128, 2]", "got shape [128]"});
}

class ValidationExperts : public ::testing::Test {
 protected:
  void expect_experts_error(std::initializer_list<std::string> fragments) {
    expect_invalid(
        [&] {
          moe_experts(plan_, args_.inputs, args_.weights, args_.expert_output, args_.workspace,
                      nullptr);
        },
        fragments);
  }

  void use_masked_layout(int64_t capacity) {
    args_.inputs.layout = ExpertInputLayout::kMasked;
    args_.inputs.hidden_states = tensors_.make(DType::kBFloat16, {8, capacity, 256});
    args_.inputs.expert_offsets = TensorView{};
    args_.inputs.expert_counts = tensors_.make(DType::kInt32, {8});
    args_.expert_output = tensors_.make(DType::kBFloat16, {8, capacity, 256});
  }

  TensorFactory tensors_{cpu_device()};
  MoePlan plan_ = cpu_plan();
  ExpertsArgs args_ = experts_args(tensors_, plan_);
};

TEST_F(ValidationExperts, ContiguousAndMaskedLayoutsPass) {
  EXPECT_NO_THROW(
      detail::validate_experts(plan_, args_.inputs, args_.weights, args_.expert_output, {}));
  use_masked_layout(16);
  args_.inputs.row_weights = tensors_.make(DType::kFloat32, {8, 16});
  EXPECT_NO_THROW(
      detail::validate_experts(plan_, args_.inputs, args_.weights, args_.expert_output, {}));
}

TEST_F(ValidationExperts, RejectsMaskedLayoutWithOffsets) {
  use_masked_layout(16);
  args_.inputs.expert_offsets = tensors_.make(DType::kInt32, {9});
  expect_experts_error({"'inputs.expert_offsets'", "expected no tensor", "masked layout"});
}

TEST_F(ValidationExperts, RejectsMaskedLayoutWithoutCounts) {
  use_masked_layout(16);
  args_.inputs.expert_counts = TensorView{};
  expect_experts_error({"'inputs.expert_counts'", "expected a tensor", "got none"});
}

TEST_F(ValidationExperts, RejectsMaskedHiddenWithOtherExpertCount) {
  use_masked_layout(16);
  args_.inputs.hidden_states = tensors_.make(DType::kBFloat16, {4, 16, 256});
  expect_experts_error(
      {"'inputs.hidden_states'", "expected shape [8, *, 256]", "got shape [4, 16, 256]"});
}

TEST_F(ValidationExperts, RejectsOutputRowsOtherThanInput) {
  args_.expert_output = tensors_.make(DType::kBFloat16, {kExpertRows / 2, 256});
  expect_experts_error({"'expert_output'", "expected shape [64, 256]", "got shape [32, 256]"});
}

TEST_F(ValidationExperts, RejectsFp8InputWithoutActivationQuant) {
  args_.inputs.hidden_states = tensors_.make(DType::kFloat8E4M3, {kExpertRows, 256});
  expect_experts_error({"'inputs.hidden_states'", "activation_quant none", "got float8_e4m3"});
}

TEST_F(ValidationExperts, RejectsFp8GroupInputWithoutScale) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kFP8Block128;
  moe.activation_quant = ActivationQuant::kFP8Group128;
  plan_ = cpu_plan(moe);
  args_.weights = make_weights(tensors_, plan_);
  args_.inputs.hidden_states = tensors_.make(DType::kFloat8E4M3, {kExpertRows, 256});
  expect_experts_error({"'inputs.hidden_states_scale'", "expected a tensor", "got none"});
}

TEST_F(ValidationExperts, AcceptsMaskedFp8ScalesFlatOrPerExpert) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kFP8Block128;
  moe.activation_quant = ActivationQuant::kFP8Group128;
  plan_ = cpu_plan(moe);
  args_.weights = make_weights(tensors_, plan_);
  use_masked_layout(16);
  args_.inputs.hidden_states = tensors_.make(DType::kFloat8E4M3, {8, 16, 256});
  args_.inputs.hidden_states_scale = tensors_.make(DType::kFloat32, {8 * 16, 2});
  EXPECT_NO_THROW(
      detail::validate_experts(plan_, args_.inputs, args_.weights, args_.expert_output, {}));
  args_.inputs.hidden_states_scale = tensors_.make(DType::kFloat32, {8, 16, 2});
  EXPECT_NO_THROW(
      detail::validate_experts(plan_, args_.inputs, args_.weights, args_.expert_output, {}));
  args_.inputs.hidden_states_scale = tensors_.make(DType::kFloat32, {8, 16});
  expect_experts_error({"'inputs.hidden_states_scale'", "expected shape [128, 2] or [8, 16, 2]",
                        "got shape [8, 16]"});
}

TEST_F(ValidationExperts, RejectsPerRowScaleForStaticFp8Input) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kFP8PerTensor;
  moe.activation_quant = ActivationQuant::kFP8PerTensor;
  plan_ = cpu_plan(moe);
  args_.weights = make_weights(tensors_, plan_);
  args_.inputs.hidden_states = tensors_.make(DType::kFloat8E4M3, {kExpertRows, 256});
  args_.inputs.hidden_states_scale = tensors_.make(DType::kFloat32, {kExpertRows});
  expect_experts_error({"'inputs.hidden_states_scale'", "expected shape [1]", "got shape [64]"});
}

TEST_F(ValidationExperts, RejectsLayoutOutOfRange) {
  args_.inputs.layout = static_cast<ExpertInputLayout>(2);
  expect_experts_error({"'inputs.layout'", "ExpertInputLayout value in [0, 1]", "got 2"});
}

TEST_F(ValidationExperts, RejectsBf16RowWeights) {
  args_.inputs.row_weights = tensors_.make(DType::kBFloat16, {kExpertRows});
  expect_experts_error({"'inputs.row_weights'", "expected dtype float32", "got bfloat16"});
}

TEST_F(ValidationExperts, RejectsPreparedWeightsOnCpu) {
  args_.weights.layout = WeightLayout::kSm90Prepared;
  expect_experts_error({"'weights.layout'", "expected checkpoint", "got sm90-prepared"});
}

class ValidationCombine : public ::testing::Test {
 protected:
  void expect_combine_error(std::initializer_list<std::string> fragments) {
    expect_invalid([&] { moe_combine(plan_, args_.inputs, args_.output, nullptr); }, fragments);
  }

  TensorFactory tensors_{cpu_device()};
  MoePlan plan_ = cpu_plan();
  CombineArgs args_ = combine_args(tensors_, plan_);
};

TEST_F(ValidationCombine, ValidArgumentsPass) {
  EXPECT_NO_THROW(detail::validate_combine(plan_, args_.inputs, args_.output));
}

TEST_F(ValidationCombine, RejectsWeightsWhenAppliedOnInput) {
  MoeConfig moe = small_moe();
  moe.top_k = 1;
  moe.router_weight_apply = RouterWeightApply::kOnInput;
  plan_ = cpu_plan(moe);
  args_ = combine_args(tensors_, plan_);
  expect_combine_error({"'inputs.topk_weights'", "expected no tensor", "applied twice"});
}

TEST_F(ValidationCombine, RejectsOutputDtypeOtherThanExpertOutput) {
  args_.output = tensors_.make(DType::kFloat16, {kTokens, 256});
  expect_combine_error(
      {"'output'", "bfloat16 (the dtype of 'inputs.expert_output')", "got float16"});
}

TEST_F(ValidationCombine, RejectsSlotToRowWithOtherTopK) {
  args_.inputs.slot_to_row = tensors_.make(DType::kInt32, {kTokens, 3});
  expect_combine_error({"'inputs.slot_to_row'", "expected shape [*, 2]", "got shape [4, 3]"});
}

TEST_F(ValidationCombine, RejectsOutputWithOtherTokenCount) {
  args_.output = tensors_.make(DType::kBFloat16, {kTokens * 2, 256});
  expect_combine_error({"'output'", "expected shape [4, 256]", "got shape [8, 256]"});
}

}  // namespace
}  // namespace fusedmoe::testing
