// Model presets: the shapes table of the design brief, tensor/expert-parallel slicing and the
// errors that name the offending option.
#include <gtest/gtest.h>

#include <string>

#include "common/presets.h"
#include "common/tool_error.h"
#include "common/weight_formats.h"

namespace fusedmoe::tools {
namespace {

struct ExpectedShape {
  const char* name;
  int32_t hidden, intermediate, experts, top_k;
  RoutingMethod method;
  int32_t n_group, topk_group;
  float routed_scaling_factor;
  Activation activation;
};

// pain_points.md §1 (GLM-4.5-Air's rsf from its config: 1.0).
constexpr ExpectedShape kExpected[] = {
    {"deepseek-v3", 7168, 2048, 256, 8, RoutingMethod::kSigmoidGroupedTopK, 8, 4, 2.5f, Activation::kSwiGLU},
    {"qwen3-30b-a3b", 2048, 768, 128, 8, RoutingMethod::kSoftmaxTopK, 1, 1, 1.0f, Activation::kSwiGLU},
    {"qwen3-235b-a22b", 4096, 1536, 128, 8, RoutingMethod::kSoftmaxTopK, 1, 1, 1.0f, Activation::kSwiGLU},
    {"mixtral-8x7b", 4096, 14336, 8, 2, RoutingMethod::kTopKSoftmax, 1, 1, 1.0f, Activation::kSwiGLU},
    {"minimax-m2", 3072, 1536, 256, 8, RoutingMethod::kSigmoidGroupedTopK, 1, 1, 1.0f, Activation::kSwiGLU},
    {"gpt-oss-120b", 2880, 2880, 128, 4, RoutingMethod::kTopKSoftmax, 1, 1, 1.0f, Activation::kSwiGLUOAI},
    {"nemotron-3-nano", 2688, 1856, 128, 6, RoutingMethod::kSigmoidGroupedTopK, 1, 1, 2.5f, Activation::kReLU2},
    {"llama-4-scout", 5120, 8192, 16, 1, RoutingMethod::kLlama4Top1Sigmoid, 1, 1, 1.0f, Activation::kSwiGLU},
    {"glm-4.5-air", 4096, 1408, 128, 8, RoutingMethod::kSigmoidGroupedTopK, 1, 1, 1.0f, Activation::kSwiGLU},
};

TEST(PresetsTest, MatchTheShapesTable) {
  ASSERT_EQ(model_presets().size(), std::size(kExpected));
  for (const ExpectedShape& expected : kExpected) {
    SCOPED_TRACE(expected.name);
    const ModelPreset& preset = find_preset(expected.name);
    EXPECT_EQ(preset.hidden_size, expected.hidden);
    EXPECT_EQ(preset.intermediate_size, expected.intermediate);
    EXPECT_EQ(preset.num_experts, expected.experts);
    EXPECT_EQ(preset.top_k, expected.top_k);
    EXPECT_EQ(preset.routing.method, expected.method);
    EXPECT_EQ(preset.routing.n_group, expected.n_group);
    EXPECT_EQ(preset.routing.topk_group, expected.topk_group);
    EXPECT_FLOAT_EQ(preset.routing.routed_scaling_factor, expected.routed_scaling_factor);
    EXPECT_EQ(preset.activation, expected.activation);
    EXPECT_FALSE(preset.source.empty());
    EXPECT_FALSE(preset.shared_expert.empty());
  }
}

TEST(PresetsTest, ModelSpecificSemantics) {
  const ModelPreset& gpt_oss = find_preset("gpt-oss-120b");
  EXPECT_TRUE(gpt_oss.logits_bias);
  EXPECT_TRUE(gpt_oss.expert_biases);
  EXPECT_EQ(gpt_oss.gate_up_layout, GateUpLayout::kInterleaved);
  EXPECT_FLOAT_EQ(gpt_oss.activation_params.alpha, 1.702f);
  EXPECT_FLOAT_EQ(gpt_oss.activation_params.clamp_limit, 7.0f);
  EXPECT_FLOAT_EQ(gpt_oss.activation_params.beta, 1.0f);

  EXPECT_EQ(find_preset("llama-4-scout").router_weight_apply, RouterWeightApply::kOnInput);
  for (const char* sigmoid_model : {"deepseek-v3", "minimax-m2", "nemotron-3-nano", "glm-4.5-air"}) {
    SCOPED_TRACE(sigmoid_model);
    EXPECT_TRUE(find_preset(sigmoid_model).correction_bias);
    EXPECT_TRUE(find_preset(sigmoid_model).routing.renormalize);
  }
  EXPECT_TRUE(find_preset("qwen3-30b-a3b").routing.renormalize);
  EXPECT_NE(find_preset("deepseek-v3").shared_expert, "none");
}

TEST(PresetsTest, UnknownModelListsTheKnownOnes) {
  try {
    find_preset("nope");
    FAIL() << "expected UsageError";
  } catch (const UsageError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("unknown model 'nope'; known: deepseek-v3, qwen3-30b-a3b", 0), 0u)
        << message;
    EXPECT_NE(message.find("glm-4.5-air"), std::string::npos);
  }
}

TEST(PresetsTest, TensorParallelSlicesTheIntermediateSize) {
  EXPECT_EQ(slice_preset(find_preset("deepseek-v3"), {8, 1, 0}).moe.intermediate_size, 256);
  EXPECT_EQ(slice_preset(find_preset("deepseek-v3"), {16, 1, 0}).moe.intermediate_size, 128);
  EXPECT_EQ(slice_preset(find_preset("qwen3-235b-a22b"), {8, 1, 0}).moe.intermediate_size, 192);
  EXPECT_EQ(slice_preset(find_preset("nemotron-3-nano"), {8, 1, 0}).moe.intermediate_size, 232);
  const LayerSpec whole = slice_preset(find_preset("qwen3-30b-a3b"), {});
  EXPECT_EQ(whole.moe.intermediate_size, 768);
  EXPECT_EQ(whole.moe.hidden_size, 2048);
  EXPECT_EQ(whole.moe.local_experts(), 128);
  EXPECT_EQ(whole.moe.local_expert_offset, 0);
}

TEST(PresetsTest, TensorParallelMustDivideExactly) {
  try {
    slice_preset(find_preset("qwen3-30b-a3b"), {5, 1, 0});
    FAIL() << "expected UsageError";
  } catch (const UsageError& error) {
    const std::string message = error.what();
    EXPECT_EQ(message.rfind("--tp 5:", 0), 0u) << message;
    EXPECT_NE(message.find("768"), std::string::npos) << message;
  }
  EXPECT_THROW(slice_preset(find_preset("qwen3-30b-a3b"), {0, 1, 0}), UsageError);
}

TEST(PresetsTest, ExpertParallelGivesTheLocalRange) {
  const LayerSpec spec = slice_preset(find_preset("deepseek-v3"), {1, 8, 3});
  EXPECT_EQ(spec.moe.num_experts, 256);
  EXPECT_EQ(spec.moe.num_local_experts, 32);
  EXPECT_EQ(spec.moe.local_expert_offset, 96);
  EXPECT_EQ(spec.moe.local_experts(), 32);
  EXPECT_EQ(spec.moe.intermediate_size, 2048);
}

TEST(PresetsTest, ExpertParallelErrorsNameTheOption) {
  const auto message_of = [](const Parallelism& parallelism) {
    try {
      slice_preset(find_preset("mixtral-8x7b"), parallelism);
    } catch (const UsageError& error) {
      return std::string(error.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(message_of({1, 3, 0}).rfind("--ep 3:", 0), 0u) << message_of({1, 3, 0});
  EXPECT_EQ(message_of({1, 4, 4}).rfind("--ep-rank 4:", 0), 0u) << message_of({1, 4, 4});
  EXPECT_EQ(message_of({1, 4, -1}).rfind("--ep-rank -1:", 0), 0u);
}

TEST(PresetsTest, FourBitFormatsReportThePaddedSize) {
  LayerSpec spec = slice_preset(find_preset("nemotron-3-nano"), {8, 1, 0});  // I = 232
  try {
    apply_weight_format(spec.moe, WeightFormat::kMXFP4);
    FAIL() << "expected UsageError";
  } catch (const UsageError& error) {
    const std::string message = error.what();
    EXPECT_NE(message.find("232"), std::string::npos) << message;
    EXPECT_NE(message.find("zero-padded to 256"), std::string::npos) << message;
  }
  try {
    apply_weight_format(spec.moe, WeightFormat::kNVFP4);
    FAIL() << "expected UsageError";
  } catch (const UsageError& error) {
    EXPECT_NE(std::string(error.what()).find("zero-padded to 240"), std::string::npos) << error.what();
  }
  apply_weight_format(spec.moe, WeightFormat::kFP8Block128);  // partial blocks are fine
  EXPECT_EQ(spec.moe.weight_format, WeightFormat::kFP8Block128);
  EXPECT_EQ(spec.moe.activation_quant, ActivationQuant::kFP8Group128);
}

TEST(PresetsTest, WeightFormatNamesRoundTrip) {
  for (const std::string& name : weight_format_names()) {
    EXPECT_EQ(weight_format_name(parse_weight_format(name)), name);
  }
  EXPECT_THROW(parse_weight_format("int4"), UsageError);
  EXPECT_EQ(activation_quant_for(WeightFormat::kFP8PerTensor), ActivationQuant::kFP8PerTensor);
  EXPECT_EQ(activation_quant_for(WeightFormat::kNVFP4), ActivationQuant::kNone);
  EXPECT_TRUE(uses_fp8_matrix_rate(WeightFormat::kFP8Block128));
  EXPECT_FALSE(uses_fp8_matrix_rate(WeightFormat::kMXFP4));
}

TEST(PresetsTest, SummariesSayWhatTheModelDoes) {
  EXPECT_EQ(routing_summary(find_preset("deepseek-v3")), "sigmoid+bias, groups 8/4, renorm, rsf 2.5");
  EXPECT_EQ(routing_summary(find_preset("gpt-oss-120b")), "top-k->softmax, router bias");
  EXPECT_EQ(activation_summary(find_preset("nemotron-3-nano")), "relu2 (non-gated)");
  EXPECT_NE(activation_summary(find_preset("gpt-oss-120b")).find("interleaved"), std::string::npos);
}

}  // namespace
}  // namespace fusedmoe::tools
