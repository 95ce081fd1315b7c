// Tensor errors of the routing, fused and routed entry points (host tensors, CPU reference plan).
#include <gtest/gtest.h>

#include "core/validate.h"
#include "test_validation_helpers.h"

namespace fusedmoe::testing {
namespace {

class ValidationRoute : public ::testing::Test {
 protected:
  void expect_route_error(const RouteArgs& args, std::initializer_list<std::string> fragments) {
    expect_invalid(
        [&] {
          moe_route(plan_, args.inputs, args.topk_ids, args.topk_weights, args.workspace, nullptr);
        },
        fragments);
  }

  TensorFactory tensors_{cpu_device()};
  MoePlan plan_ = cpu_plan();
  RouteArgs args_ = route_args(tensors_, plan_);
};

TEST_F(ValidationRoute, ValidArgumentsPass) {
  const Device device =
      detail::validate_route(plan_, args_.inputs, args_.topk_ids, args_.topk_weights, {});
  EXPECT_EQ(device.type, DeviceType::kCPU);
}

TEST_F(ValidationRoute, RejectsFp16Logits) {
  args_.inputs.router_logits = tensors_.make(DType::kFloat16, {kTokens, 8});
  expect_route_error(
      args_, {"'inputs.router_logits'", "expected dtype float32 or bfloat16", "got float16"});
}

TEST_F(ValidationRoute, RejectsLogitsWithWrongExpertCount) {
  args_.inputs.router_logits = tensors_.make(DType::kFloat32, {kTokens, 7});
  expect_route_error(args_,
                     {"'inputs.router_logits'", "expected shape [*, 8]", "got shape [4, 7]"});
}

TEST_F(ValidationRoute, RejectsAbsentLogits) {
  args_.inputs.router_logits = TensorView{};
  expect_route_error(args_, {"'inputs.router_logits'", "expected a tensor", "got none (absent)"});
}

TEST_F(ValidationRoute, RejectsInt64TopkIdsOutput) {
  args_.topk_ids = tensors_.make(DType::kInt64, {kTokens, 2});
  expect_route_error(args_, {"'topk_ids'", "expected dtype int32", "got int64"});
}

TEST_F(ValidationRoute, RejectsTopkWeightsWithOtherTokenCount) {
  args_.topk_weights = tensors_.make(DType::kFloat32, {kTokens + 1, 2});
  expect_route_error(args_, {"'topk_weights'", "expected shape [4, 2]", "got shape [5, 2]"});
}

TEST_F(ValidationRoute, RejectsBf16TopkWeightsOutput) {
  args_.topk_weights = tensors_.make(DType::kBFloat16, {kTokens, 2});
  expect_route_error(args_, {"'topk_weights'", "expected dtype float32", "got bfloat16"});
}

TEST_F(ValidationRoute, RejectsNullTopkIdsPointer) {
  args_.topk_ids.data = nullptr;
  expect_route_error(args_, {"'topk_ids'", "expected a non-null data pointer", "got nullptr"});
}

TEST_F(ValidationRoute, RejectsColumnMajorLogits) {
  args_.inputs.router_logits =
      tensors_.strided(DType::kFloat32, {kTokens, 8}, {1, kTokens}, kTokens * 8 * 4);
  expect_route_error(args_,
                     {"'inputs.router_logits'", "stride 1 in the last dimension", "got stride 4"});
}

TEST_F(ValidationRoute, RejectsOverlappingRows) {
  args_.topk_ids = tensors_.strided(DType::kInt32, {kTokens, 2}, {1, 1}, 64);
  expect_route_error(args_, {"'topk_ids'", "no overlapping rows", "got 1"});
}

TEST_F(ValidationRoute, RejectsTooManyDimensions) {
  args_.topk_weights.ndim = 5;
  expect_route_error(args_, {"'topk_weights'", "expected ndim in [0, 4]", "got ndim 5"});
}

TEST_F(ValidationRoute, RejectsCorrectionBiasWithSoftmaxRouting) {
  args_.inputs.correction_bias = tensors_.make(DType::kFloat32, {8});
  expect_route_error(args_, {"'inputs.correction_bias'", "expected no tensor",
                             "softmax_topk has no correction bias", "got float32[8] cpu:0"});
}

TEST_F(ValidationRoute, RejectsCorrectionBiasOfWrongLength) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kSigmoidGroupedTopK;
  plan_ = cpu_plan(small_moe(), routing);
  args_.inputs.correction_bias = tensors_.make(DType::kBFloat16, {7});
  expect_route_error(args_, {"'inputs.correction_bias'", "expected shape [8]", "got shape [7]"});
}

TEST_F(ValidationRoute, RejectsInt8CaptureOfRoutedExperts) {
  args_.inputs.routed_experts_out = tensors_.make(DType::kUInt8, {kTokens, 2});
  expect_route_error(args_, {"'inputs.routed_experts_out'", "int32 or int16", "got uint8"});
}

TEST_F(ValidationRoute, RejectsLogitsBiasOfWrongDtype) {
  args_.inputs.logits_bias = tensors_.make(DType::kInt32, {8});
  expect_route_error(args_, {"'inputs.logits_bias'", "float32 or bfloat16", "got int32"});
}

class ValidationFused : public ::testing::Test {
 protected:
  void expect_fused_error(std::initializer_list<std::string> fragments) {
    expect_invalid(
        [&] {
          moe_fused(plan_, args_.inputs, args_.weights, args_.output, args_.workspace, nullptr);
        },
        fragments);
  }

  TensorFactory tensors_{cpu_device()};
  MoePlan plan_ = cpu_plan();
  FusedArgs args_ = fused_args(tensors_, plan_);
};

TEST_F(ValidationFused, ValidArgumentsPass) {
  EXPECT_EQ(detail::validate_fused(plan_, args_.inputs, args_.weights, args_.output, {}).type,
            DeviceType::kCPU);
}

TEST_F(ValidationFused, RejectsOutputDtypeOtherThanHidden) {
  args_.output = tensors_.make(DType::kFloat16, {kTokens, 256});
  expect_fused_error(
      {"'output'", "expected dtype bfloat16 (the dtype of 'inputs.hidden_states')", "got float16"});
}

TEST_F(ValidationFused, RejectsFp32HiddenStates) {
  args_.inputs.hidden_states = tensors_.make(DType::kFloat32, {kTokens, 256});
  expect_fused_error({"'inputs.hidden_states'", "bfloat16 or float16", "got float32"});
}

TEST_F(ValidationFused, RejectsHiddenStatesOfOtherHiddenSize) {
  args_.inputs.hidden_states = tensors_.make(DType::kBFloat16, {kTokens, 512});
  expect_fused_error({"'inputs.hidden_states'", "expected shape [*, 256]", "got shape [4, 512]"});
}

TEST_F(ValidationFused, RejectsLogitsForOtherTokenCount) {
  args_.inputs.routing.router_logits = tensors_.make(DType::kFloat32, {kTokens - 1, 8});
  expect_fused_error(
      {"'inputs.routing.router_logits'", "expected shape [4, 8]", "got shape [3, 8]"});
}

TEST_F(ValidationFused, RejectsSharedOutputOfOtherDtype) {
  args_.inputs.shared_output = tensors_.make(DType::kFloat32, {kTokens, 256});
  expect_fused_error({"'inputs.shared_output'", "bfloat16", "got float32"});
}

TEST_F(ValidationFused, RejectsMissingOutput) {
  args_.output = TensorView{};
  expect_fused_error({"'output'", "expected a tensor", "got none"});
}

class ValidationRouted : public ::testing::Test {
 protected:
  void expect_routed_error(std::initializer_list<std::string> fragments) {
    expect_invalid(
        [&] {
          moe_routed(plan_, args_.inputs, args_.weights, args_.output, args_.workspace, nullptr);
        },
        fragments);
  }

  TensorFactory tensors_{cpu_device()};
  MoePlan plan_ = cpu_plan();
  RoutedArgs args_ = routed_args(tensors_, plan_);
};

TEST_F(ValidationRouted, ValidArgumentsPass) {
  EXPECT_EQ(detail::validate_routed(plan_, args_.inputs, args_.weights, args_.output, {}).type,
            DeviceType::kCPU);
}

TEST_F(ValidationRouted, RejectsFloatTopkIds) {
  args_.inputs.topk_ids = tensors_.make(DType::kFloat32, {kTokens, 2});
  expect_routed_error({"'inputs.topk_ids'", "expected dtype int32 or int64", "got float32"});
}

TEST_F(ValidationRouted, RejectsTopkIdsWithOtherTopK) {
  args_.inputs.topk_ids = tensors_.make(DType::kInt32, {kTokens, 3});
  expect_routed_error({"'inputs.topk_ids'", "expected shape [4, 2]", "got shape [4, 3]"});
}

TEST_F(ValidationRouted, RejectsInt32TopkWeights) {
  args_.inputs.topk_weights = tensors_.make(DType::kInt32, {kTokens, 2});
  expect_routed_error({"'inputs.topk_weights'", "float32 or bfloat16", "got int32"});
}

}  // namespace
}  // namespace fusedmoe::testing
