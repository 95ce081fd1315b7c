// Configuration errors: every bad MoeConfig / RoutingConfig / PlanOptions value is rejected by
// make_plan with a message naming the field, the expected and the given value.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "test_validation_helpers.h"

namespace fusedmoe::testing {
namespace {

void expect_plan_error(const MoeConfig& moe, const RoutingConfig& routing,
                       std::initializer_list<std::string> fragments) {
  expect_invalid([&] { cpu_plan(moe, routing); }, fragments);
}

void expect_moe_error(const MoeConfig& moe, std::initializer_list<std::string> fragments) {
  expect_plan_error(moe, RoutingConfig{}, fragments);
}

RoutingConfig grouped(int32_t n_group, int32_t topk_group) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kSigmoidGroupedTopK;
  routing.n_group = n_group;
  routing.topk_group = topk_group;
  return routing;
}

TEST(ValidationConfig, RejectsZeroHiddenSize) {
  MoeConfig moe = small_moe();
  moe.hidden_size = 0;
  expect_moe_error(moe, {"'moe.hidden_size'", "expected a value in [1, ", "got 0"});
}

TEST(ValidationConfig, RejectsNegativeIntermediateSize) {
  MoeConfig moe = small_moe();
  moe.intermediate_size = -128;
  expect_moe_error(moe, {"'moe.intermediate_size'", "got -128"});
}

TEST(ValidationConfig, RejectsZeroExperts) {
  MoeConfig moe = small_moe();
  moe.num_experts = 0;
  expect_moe_error(moe, {"'moe.num_experts'", "[1, 1024]", "got 0"});
}

TEST(ValidationConfig, RejectsMoreThanMaxExperts) {
  MoeConfig moe = small_moe();
  moe.num_experts = 2048;
  expect_moe_error(moe, {"'moe.num_experts'", "kMaxExperts = 1024", "got 2048"});
}

TEST(ValidationConfig, RejectsTopKAboveNumExperts) {
  MoeConfig moe = small_moe();
  moe.top_k = 9;
  expect_moe_error(moe, {"'moe.top_k'", "[1, 8]", "at most num_experts = 8", "got 9"});
}

TEST(ValidationConfig, RejectsTopKAboveMaxTopK) {
  MoeConfig moe = small_moe();
  moe.num_experts = 64;
  moe.top_k = 33;
  expect_moe_error(moe, {"'moe.top_k'", "[1, 32]", "kMaxTopK = 32", "got 33"});
}

TEST(ValidationConfig, RejectsZeroTopK) {
  MoeConfig moe = small_moe();
  moe.top_k = 0;
  expect_moe_error(moe, {"'moe.top_k'", "got 0"});
}

TEST(ValidationConfig, RejectsLocalExpertOffsetAtNumExperts) {
  MoeConfig moe = small_moe();
  moe.local_expert_offset = 8;
  expect_moe_error(moe, {"'moe.local_expert_offset'", "[0, 7]", "got 8"});
}

TEST(ValidationConfig, RejectsNegativeLocalExpertOffset) {
  MoeConfig moe = small_moe();
  moe.local_expert_offset = -1;
  expect_moe_error(moe, {"'moe.local_expert_offset'", "got -1"});
}

TEST(ValidationConfig, RejectsLocalExpertRangePastNumExperts) {
  MoeConfig moe = small_moe();
  moe.local_expert_offset = 4;
  moe.num_local_experts = 5;  // experts [4, 9) of 8
  expect_moe_error(moe, {"'moe.num_local_experts'", "[0, 4]", "got 5"});
}

TEST(ValidationConfig, RejectsNGroupNotDividingExperts) {
  MoeConfig moe = small_moe();
  expect_plan_error(moe, grouped(3, 1),
                    {"'routing.n_group'", "a divisor of num_experts = 8", "got 3"});
}

TEST(ValidationConfig, RejectsTopkGroupAboveNGroup) {
  MoeConfig moe = small_moe();
  expect_plan_error(moe, grouped(2, 3), {"'routing.topk_group'", "[1, 2]", "got 3"});
}

TEST(ValidationConfig, RejectsGroupsWithSoftmaxRouting) {
  RoutingConfig routing = grouped(2, 1);
  routing.method = RoutingMethod::kSoftmaxTopK;
  expect_plan_error(small_moe(), routing,
                    {"'routing.n_group'", "1 for routing method softmax_topk", "got 2"});
}

TEST(ValidationConfig, RejectsKeptGroupsSmallerThanTopK) {
  MoeConfig moe = small_moe();
  moe.top_k = 4;
  // 4 groups of 2 experts, keeping 1 group leaves 2 candidates for 4 slots.
  expect_plan_error(moe, grouped(4, 1),
                    {"'routing.topk_group'", ">= top_k = 4", "got 1 groups of 2"});
}

TEST(ValidationConfig, RejectsGroupsOfOneExpert) {
  MoeConfig moe = small_moe();
  expect_plan_error(moe, grouped(8, 4), {"'routing.n_group'", "top-2", "got 8"});
}

TEST(ValidationConfig, RejectsLlama4RoutingWithTopK2) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kLlama4Top1Sigmoid;
  expect_plan_error(small_moe(), routing,
                    {"'moe.top_k'", "1 for routing method llama4_top1_sigmoid", "got 2"});
}

TEST(ValidationConfig, RejectsRouterWeightOnInputWithTopK2) {
  MoeConfig moe = small_moe();
  moe.router_weight_apply = RouterWeightApply::kOnInput;
  expect_moe_error(moe, {"'moe.top_k'", "kOnInput", "got 2"});
}

TEST(ValidationConfig, RejectsInterleavedLayoutForNonGatedActivation) {
  MoeConfig moe = small_moe();
  moe.activation = Activation::kReLU2;
  moe.gate_up_layout = GateUpLayout::kInterleaved;
  expect_moe_error(moe,
                   {"'moe.gate_up_layout'", "non-gated activation 'relu2'", "got GateUpLayout 2"});
}

TEST(ValidationConfig, RejectsNonPositiveClampLimit) {
  MoeConfig moe = small_moe();
  moe.activation = Activation::kSwiGLUOAI;
  moe.activation_params.clamp_limit = 0.0f;
  expect_moe_error(moe, {"'moe.activation_params.clamp_limit'", "a value > 0", "got 0"});
}

TEST(ValidationConfig, RejectsNanClampLimit) {
  MoeConfig moe = small_moe();
  moe.activation_params.clamp_limit = std::nanf("");
  expect_moe_error(moe, {"'moe.activation_params.clamp_limit'", "nan"});
}

TEST(ValidationConfig, RejectsClampLimitForNonGatedActivation) {
  MoeConfig moe = small_moe();
  moe.activation = Activation::kReLU2;
  moe.activation_params.clamp_limit = 7.0f;
  expect_moe_error(moe, {"'moe.activation_params.clamp_limit'", "+inf", "got 7"});
}

TEST(ValidationConfig, RejectsNonFiniteAlpha) {
  MoeConfig moe = small_moe();
  moe.activation_params.alpha = std::numeric_limits<float>::infinity();
  expect_moe_error(moe, {"'moe.activation_params.alpha'", "a finite value", "got inf"});
}

TEST(ValidationConfig, RejectsZeroRoutedScalingFactor) {
  RoutingConfig routing;
  routing.routed_scaling_factor = 0.0f;
  expect_plan_error(small_moe(), routing,
                    {"'routing.routed_scaling_factor'", "a finite value > 0", "got 0"});
}

TEST(ValidationConfig, RejectsInfiniteRoutedScalingFactor) {
  RoutingConfig routing;
  routing.routed_scaling_factor = std::numeric_limits<float>::infinity();
  expect_plan_error(small_moe(), routing, {"'routing.routed_scaling_factor'", "got inf"});
}

TEST(ValidationConfig, RejectsActivationOutOfRange) {
  MoeConfig moe = small_moe();
  moe.activation = static_cast<Activation>(17);
  expect_moe_error(moe, {"'moe.activation'", "a fusedmoe::Activation value in [0, 5]", "got 17"});
}

TEST(ValidationConfig, RejectsWeightFormatOutOfRange) {
  MoeConfig moe = small_moe();
  moe.weight_format = static_cast<WeightFormat>(-1);
  expect_moe_error(moe, {"'moe.weight_format'", "WeightFormat value in [0, 4]", "got -1"});
}

TEST(ValidationConfig, RejectsRoutingMethodOutOfRange) {
  RoutingConfig routing;
  routing.method = static_cast<RoutingMethod>(9);
  expect_plan_error(small_moe(), routing,
                    {"'routing.method'", "RoutingMethod value in [0, 4]", "got 9"});
}

TEST(ValidationConfig, RejectsBf16WeightsWithFp8Activations) {
  MoeConfig moe = small_moe();
  moe.activation_quant = ActivationQuant::kFP8PerToken;
  expect_moe_error(moe,
                   {"'moe.activation_quant'", "none for weight format bf16", "got fp8-per-token"});
}

TEST(ValidationConfig, RejectsBlockFp8WithPerTokenActivations) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kFP8Block128;
  moe.activation_quant = ActivationQuant::kFP8PerToken;
  expect_moe_error(moe, {"'moe.activation_quant'", "fp8-group128 for weight format fp8-block",
                         "got fp8-per-token"});
}

TEST(ValidationConfig, RejectsPerTensorFp8WithGroupActivations) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kFP8PerTensor;
  moe.activation_quant = ActivationQuant::kFP8Group128;
  expect_moe_error(
      moe, {"'moe.activation_quant'", "fp8-per-tensor or fp8-per-token", "got fp8-group128"});
}

TEST(ValidationConfig, RejectsMxfp4WithStaticFp8Activations) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kMXFP4;
  moe.activation_quant = ActivationQuant::kFP8PerTensor;
  expect_moe_error(moe, {"'moe.activation_quant'", "none (W4A16)", "got fp8-per-tensor"});
}

TEST(ValidationConfig, RejectsMxfp4HiddenNotMultipleOf32) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kMXFP4;
  moe.hidden_size = 272;
  expect_moe_error(moe, {"'moe.hidden_size'", "a multiple of 32", "got 272"});
}

TEST(ValidationConfig, RejectsNvfp4IntermediateNotMultipleOf16) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kNVFP4;
  moe.intermediate_size = 200;
  expect_moe_error(moe, {"'moe.intermediate_size'", "a multiple of 16", "got 200"});
}

TEST(ValidationConfig, RejectsUe8m0ScalesForStaticActivations) {
  MoeConfig moe = small_moe();
  moe.weight_format = WeightFormat::kFP8PerTensor;
  moe.activation_quant = ActivationQuant::kFP8PerTensor;
  moe.activation_scale_format = ScaleFormat::kUE8M0;
  expect_moe_error(moe, {"'moe.activation_scale_format'",
                         "kFloat32 with activation_quant "
                         "fp8-per-tensor",
                         "got kUE8M0"});
}

TEST(ValidationConfig, RejectsZeroMaxTokensForCuda) {
  expect_invalid([] { cuda_plan(small_moe(), {}, 0); },
                 {"'options.max_num_tokens'", "workspace is sized for it", "got 0"});
}

TEST(ValidationConfig, RejectsNegativeMaxTokensForCpu) {
  PlanOptions options;
  options.backend = Backend::kCpuReference;
  options.max_num_tokens = -1;
  expect_invalid([&] { make_plan(small_moe(), {}, options); },
                 {"'options.max_num_tokens'", "[0, ", "got -1"});
}

TEST(ValidationConfig, RejectsMaxTokensOverflowingSlotIds) {
  MoeConfig moe = small_moe();
  moe.top_k = 8;
  expect_invalid([&] { cuda_plan(moe, {}, std::numeric_limits<int32_t>::max() / 4); },
                 {"'options.max_num_tokens'", "int32 slot ids"});
}

TEST(ValidationConfig, RejectsTacticBelowMinusOne) {
  PlanOptions options;
  options.backend = Backend::kCpuReference;
  options.tactic = -2;
  expect_invalid([&] { make_plan(small_moe(), {}, options); },
                 {"'options.tactic'", "-1 = heuristic default", "got -2"});
}

TEST(ValidationConfig, RejectsExpertKernelOutOfRange) {
  PlanOptions options;
  options.backend = Backend::kCpuReference;
  options.expert_kernel = static_cast<ExpertKernel>(3);
  expect_invalid([&] { make_plan(small_moe(), {}, options); },
                 {"'options.expert_kernel'", "ExpertKernel value in [0, 2]", "got 3"});
}

TEST(ValidationConfig, RejectsTokenGatherOutOfRange) {
  PlanOptions options;
  options.backend = Backend::kCpuReference;
  options.token_gather = static_cast<TokenGather>(3);
  expect_invalid([&] { make_plan(small_moe(), {}, options); },
                 {"'options.token_gather'", "TokenGather value in [0, 2]", "got 3"});
}

TEST(ValidationConfig, RejectsBackendOutOfRange) {
  PlanOptions options;
  options.backend = static_cast<Backend>(7);
  expect_invalid([&] { make_plan(small_moe(), {}, options); },
                 {"'options.backend'", "Backend value in [0, 1]", "got 7"});
}

TEST(ValidationConfig, RejectsCombineModeOutOfRange) {
  PlanOptions options;
  options.backend = Backend::kCpuReference;
  options.combine_mode = static_cast<CombineMode>(1);
  expect_invalid([&] { make_plan(small_moe(), {}, options); }, {"'options.combine_mode'", "got 1"});
}

// ---- configurations from real models pass --------------------------------------------------
TEST(ValidationConfig, AcceptsDeepSeekV3BlockFp8GroupedRouting) {
  MoeConfig moe;
  moe.hidden_size = 7168;
  moe.intermediate_size = 256;
  moe.num_experts = 256;
  moe.top_k = 8;
  moe.local_expert_offset = 32;
  moe.num_local_experts = 32;
  moe.weight_format = WeightFormat::kFP8Block128;
  moe.activation_quant = ActivationQuant::kFP8Group128;
  moe.activation_scale_format = ScaleFormat::kUE8M0;
  RoutingConfig routing = grouped(8, 4);
  routing.routed_scaling_factor = 2.5f;
  EXPECT_NO_THROW(cuda_plan(moe, routing, 4096));
}

TEST(ValidationConfig, AcceptsGptOssMxfp4) {
  MoeConfig moe;
  moe.hidden_size = 2880;
  moe.intermediate_size = 2880;
  moe.num_experts = 32;
  moe.top_k = 4;
  moe.activation = Activation::kSwiGLUOAI;
  moe.activation_params.clamp_limit = 7.0f;
  moe.gate_up_layout = GateUpLayout::kInterleaved;
  moe.weight_format = WeightFormat::kMXFP4;
  RoutingConfig routing;
  routing.method = RoutingMethod::kTopKSoftmax;
  EXPECT_NO_THROW(cpu_plan(moe, routing));
}

TEST(ValidationConfig, AcceptsLlama4TopOneOnInput) {
  MoeConfig moe = small_moe();
  moe.top_k = 1;
  moe.router_weight_apply = RouterWeightApply::kOnInput;
  moe.weight_format = WeightFormat::kFP8PerTensor;
  moe.activation_quant = ActivationQuant::kFP8PerTensor;
  RoutingConfig routing;
  routing.method = RoutingMethod::kLlama4Top1Sigmoid;
  EXPECT_NO_THROW(cpu_plan(moe, routing));
}

TEST(ValidationConfig, AcceptsNvfp4W4A8AndNonGatedRelu2) {
  MoeConfig moe = small_moe();
  moe.activation = Activation::kReLU2;
  moe.weight_format = WeightFormat::kNVFP4;
  moe.activation_quant = ActivationQuant::kFP8PerToken;
  EXPECT_NO_THROW(cpu_plan(moe));
}

// Plans are plain structs: an entry point re-checks the one it is given.
TEST(ValidationConfig, EntryPointRejectsPlanEditedAfterMakePlan) {
  TensorFactory tensors(cpu_device());
  MoePlan plan = cpu_plan();
  const RouteArgs args = route_args(tensors, plan);
  plan.moe.top_k = 40;
  expect_invalid(
      [&] { moe_route(plan, args.inputs, args.topk_ids, args.topk_weights, {}, nullptr); },
      {"'plan.moe.top_k'", "[1, 8]", "got 40"});
}

}  // namespace
}  // namespace fusedmoe::testing
