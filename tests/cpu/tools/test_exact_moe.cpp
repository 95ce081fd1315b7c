// The tool's independent double-precision evaluation: routing and expert math on hand cases, then
// against the library's CPU reference on small random layers of every format.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "common/exact_moe.h"
#include "common/layer_runner.h"
#include "common/metrics.h"
#include "common/random_layer.h"
#include "common/weight_formats.h"
#include "core/host_numerics.h"

namespace fusedmoe::tools {
namespace {

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

ExactRouting route(const MoeConfig& moe, const RoutingConfig& routing, std::vector<float> logits,
                   std::vector<float> correction = {}, std::vector<float> bias = {}) {
  RoutingInputs inputs;
  inputs.router_logits = make_view(logits.data(), DType::kFloat32,
                                   {static_cast<int64_t>(logits.size()) / moe.num_experts, moe.num_experts});
  if (!correction.empty()) inputs.correction_bias = make_view(correction.data(), DType::kFloat32, {moe.num_experts});
  if (!bias.empty()) inputs.logits_bias = make_view(bias.data(), DType::kFloat32, {moe.num_experts});
  return route_exact(moe, routing, inputs);
}

MoeConfig experts(int32_t count, int32_t top_k) {
  MoeConfig moe;
  moe.hidden_size = 2;
  moe.intermediate_size = 1;
  moe.num_experts = count;
  moe.top_k = top_k;
  return moe;
}

TEST(ExactMoeTest, SoftmaxThenTopK) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kSoftmaxTopK;
  routing.renormalize = true;
  const ExactRouting renorm = route(experts(4, 2), routing, {1, 3, 2, 0});
  EXPECT_EQ(renorm.ids, (std::vector<int32_t>{1, 2}));
  EXPECT_NEAR(renorm.weights[0], std::exp(3.0) / (std::exp(3.0) + std::exp(2.0)), 1e-15);
  routing.renormalize = false;
  const ExactRouting raw = route(experts(4, 2), routing, {1, 3, 2, 0});
  const double total = std::exp(0.0) + std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(raw.weights[0], std::exp(3.0) / total, 1e-15);
  EXPECT_NEAR(raw.weights[1], std::exp(2.0) / total, 1e-15);
}

TEST(ExactMoeTest, TopKThenSoftmaxWithRouterBias) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kTopKSoftmax;
  const ExactRouting result = route(experts(4, 2), routing, {0, 0, 0, 0}, {}, {0.5f, -1.0f, 2.0f, 0.0f});
  EXPECT_EQ(result.ids, (std::vector<int32_t>{2, 0}));
  EXPECT_NEAR(result.weights[0], std::exp(2.0) / (std::exp(2.0) + std::exp(0.5)), 1e-15);
  EXPECT_NEAR(result.weights[0] + result.weights[1], 1.0, 1e-15);
}

// Groups of 2: group 3 and group 1 win on their top-2 biased sums; expert 4 (biased 1.35) sits in
// a dropped group and is not chosen although it outranks expert 2.
TEST(ExactMoeTest, SigmoidGroupedTopK) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kSigmoidGroupedTopK;
  routing.n_group = 4;
  routing.topk_group = 2;
  routing.renormalize = true;
  const ExactRouting result = route(experts(8, 2), routing, {0, 0, 0, 0, 0, 0, 0, 1},
                                    {0.0f, 0.1f, 0.3f, 0.3f, 0.85f, -0.5f, 0.05f, 0.9f});
  EXPECT_EQ(result.ids, (std::vector<int32_t>{7, 2}));
  const double s7 = sigmoid(1.0);
  EXPECT_NEAR(result.weights[0], s7 / (s7 + 0.5), 1e-12);  // weights use sigmoid(raw), no bias
  EXPECT_NEAR(result.weights[1], 0.5 / (s7 + 0.5), 1e-12);

  routing.n_group = 1;  // MiniMax-M2 / GLM: no grouping, expert 4 now wins second place
  const ExactRouting ungrouped = route(experts(8, 2), routing, {0, 0, 0, 0, 0, 0, 0, 1},
                                       {0.0f, 0.1f, 0.3f, 0.3f, 0.85f, -0.5f, 0.05f, 0.9f});
  EXPECT_EQ(ungrouped.ids, (std::vector<int32_t>{7, 4}));
}

TEST(ExactMoeTest, Llama4TopOneSigmoid) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kLlama4Top1Sigmoid;
  const ExactRouting result = route(experts(3, 1), routing, {0.2f, -1.0f, 1.5f});
  EXPECT_EQ(result.ids, (std::vector<int32_t>{2}));
  EXPECT_NEAR(result.weights[0], sigmoid(1.5), 1e-15);
}

TEST(ExactMoeTest, TiesGoToTheLowerIdAndNaNRanksLowest) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kTopKSoftmax;
  EXPECT_EQ(route(experts(4, 2), routing, {1, 1, 1, 1}).ids, (std::vector<int32_t>{0, 1}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(route(experts(4, 2), routing, {nan, 1, nan, 0}).ids, (std::vector<int32_t>{1, 3}));
  // NaN counts as -inf: a row with nothing finite takes the lowest ids with weight 0.
  const float inf = std::numeric_limits<float>::infinity();
  const ExactRouting empty = route(experts(4, 2), routing, {nan, -inf, nan, -inf});
  EXPECT_EQ(empty.ids, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(empty.weights, (std::vector<double>{0.0, 0.0}));
  // +inf is clamped to the largest float: it wins, and the weights stay finite.
  const ExactRouting huge = route(experts(4, 2), routing, {0, inf, 1, nan});
  EXPECT_EQ(huge.ids, (std::vector<int32_t>{1, 2}));
  EXPECT_DOUBLE_EQ(huge.weights[0], 1.0);
  EXPECT_DOUBLE_EQ(huge.weights[1], 0.0);
  routing.method = RoutingMethod::kSoftmaxTopK;
  EXPECT_EQ(route(experts(4, 2), routing, {nan, nan, nan, nan}).weights, (std::vector<double>{0.0, 0.0}));
}

// One token, one expert with weights exact in bf16: gate = x0, up = x1, y = [2a, a].
TEST(ExactMoeTest, ExpertMathHandCase) {
  MoeConfig moe = experts(1, 1);
  std::vector<uint16_t> w13 = {numerics::float_to_bf16_bits(1), numerics::float_to_bf16_bits(0),
                               numerics::float_to_bf16_bits(0), numerics::float_to_bf16_bits(1)};
  std::vector<uint16_t> w2 = {numerics::float_to_bf16_bits(2), numerics::float_to_bf16_bits(1)};
  std::vector<uint16_t> x = {numerics::float_to_bf16_bits(1), numerics::float_to_bf16_bits(3)};
  ExpertWeights weights;
  weights.w13 = make_view(w13.data(), DType::kBFloat16, {1, 2, 2});
  weights.w2 = make_view(w2.data(), DType::kBFloat16, {1, 2, 1});
  ExactRouting routed;
  routed.num_tokens = 1;
  routed.top_k = 1;
  routed.ids = {0};
  routed.weights = {0.5};
  RoutingConfig routing;
  routing.routed_scaling_factor = 2.0f;
  const double a = sigmoid(1.0) * 3.0;
  const ExactOutput out = moe_exact(moe, routing, make_view(x.data(), DType::kBFloat16, {1, 2}),
                                    routed, weights);
  EXPECT_NEAR(out.output[0], 2.0 * 0.5 * 2.0 * a, 1e-12);
  EXPECT_NEAR(out.output[1], 2.0 * 0.5 * a, 1e-12);
  EXPECT_NEAR(out.intermediate_amax, a, 1e-12);
  EXPECT_EQ(out.local_rows, 1);

  moe.gate_up_layout = GateUpLayout::kUpThenGate;  // now gate = x1 = 3, up = x0 = 1
  const ExactOutput swapped = moe_exact(moe, routing, make_view(x.data(), DType::kBFloat16, {1, 2}),
                                        routed, weights);
  EXPECT_NEAR(swapped.output[1], 3.0 * sigmoid(3.0), 1e-12);

  routed.ids = {-1};  // no expert: contributes nothing
  EXPECT_EQ(moe_exact(moe, routing, make_view(x.data(), DType::kBFloat16, {1, 2}), routed, weights).output,
            (std::vector<double>{0.0, 0.0}));
}

TEST(ExactMoeTest, ActivationsFollowTheConfigDefinitions) {
  MoeConfig moe;
  moe.activation = Activation::kSwiGLUOAI;
  moe.activation_params.alpha = 1.702f;
  moe.activation_params.beta = 1.0f;
  moe.activation_params.clamp_limit = 7.0f;
  const double alpha = 1.702f;  // the value the config holds
  // gate clamped to 7 from above only, up clamped to [-7, 7].
  EXPECT_NEAR(activate_exact(moe, 10.0, -9.0), (-7.0 + 1.0) * 7.0 * sigmoid(alpha * 7.0), 1e-12);
  EXPECT_NEAR(activate_exact(moe, -10.0, 2.0), (2.0 + 1.0) * -10.0 * sigmoid(alpha * -10.0), 1e-12);
  moe.activation = Activation::kReLU2;
  EXPECT_DOUBLE_EQ(activate_exact(moe, 3.0, 0.0), 9.0);
  EXPECT_DOUBLE_EQ(activate_exact(moe, -3.0, 0.0), 0.0);
  moe.activation = Activation::kSwiGLU;
  moe.activation_params.clamp_limit = std::numeric_limits<float>::infinity();
  EXPECT_NEAR(activate_exact(moe, 20.0, 2.0), 20.0 * sigmoid(20.0) * 2.0, 1e-12);
}

struct LibraryCase {
  const char* model;
  WeightFormat format;
  Parallelism parallelism;
};

// Shrinks a preset to a fast shape that keeps its semantics (routing, activation, biases).
LayerSpec shrunk(const LibraryCase& test_case) {
  LayerSpec spec = slice_preset(find_preset(test_case.model), test_case.parallelism);
  spec.moe.hidden_size = 256;
  spec.moe.intermediate_size = 128;
  apply_weight_format(spec.moe, test_case.format);
  return spec;
}

// The library's CPU reference against the independent evaluation: they must agree to within the
// activation rounding/quantization the library applies.
TEST(ExactMoeTest, AgreesWithTheLibraryReference) {
  const LibraryCase cases[] = {
      {"qwen3-30b-a3b", WeightFormat::kBF16, {}},
      {"qwen3-30b-a3b", WeightFormat::kFP8Block128, {}},
      {"deepseek-v3", WeightFormat::kFP8Block128, {1, 4, 2}},
      {"deepseek-v3", WeightFormat::kFP8PerTensor, {}},
      {"mixtral-8x7b", WeightFormat::kNVFP4, {}},
      {"gpt-oss-120b", WeightFormat::kMXFP4, {}},
      {"nemotron-3-nano", WeightFormat::kBF16, {}},
      {"llama-4-scout", WeightFormat::kBF16, {}},
      {"glm-4.5-air", WeightFormat::kFP8PerTensor, {1, 2, 1}},
  };
  for (const LibraryCase& test_case : cases) {
    SCOPED_TRACE(std::string(test_case.model) + " " + weight_format_name(test_case.format));
    const LayerSpec spec = shrunk(test_case);
    RandomLayer layer(spec, 5, 3);
    layer.generate_all_experts();
    const RoutedIds routed = route_on_cpu(layer);
    const ExactRouting exact_routing = route_exact(spec.moe, spec.routing, layer.routing_inputs());
    // Same experts with the same weights per token (the order within a row is not part of the
    // contract).
    const size_t top_k = static_cast<size_t>(spec.moe.top_k);
    for (size_t slot = 0; slot < routed.ids.size(); ++slot) {
      const size_t row = slot / top_k;
      const auto begin = exact_routing.ids.begin() + static_cast<std::ptrdiff_t>(row * top_k);
      const auto found = std::find(begin, begin + static_cast<std::ptrdiff_t>(top_k), routed.ids[slot]);
      ASSERT_NE(found, begin + static_cast<std::ptrdiff_t>(top_k)) << "token " << row;
      EXPECT_NEAR(routed.weights[slot],
                  exact_routing.weights[static_cast<size_t>(found - exact_routing.ids.begin())], 1e-6);
    }
    const ExactOutput exact = moe_exact(spec.moe, spec.routing, layer.hidden_states(), exact_routing,
                                        layer.weights());
    layer.set_intermediate_scale(static_cast<float>(exact.intermediate_amax / numerics::kFp8E4M3Max));
    const TimedOutput library = fused_on_cpu(layer);
    const ErrorMetrics metrics = compare(library.output, exact.output);
    EXPECT_TRUE(judge(metrics, tolerance_for(test_case.format).vs_exact).pass)
        << judge(metrics, tolerance_for(test_case.format).vs_exact).reason;
    EXPECT_GT(metrics.cosine, 0.99);
  }
}

}  // namespace
}  // namespace fusedmoe::tools
