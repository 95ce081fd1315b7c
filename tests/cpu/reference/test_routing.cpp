// Routing reference: hand-computed cases for every method, the NaN/Inf policy and ties.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <limits>
#include <set>

#include "reference/reference.h"
#include "reference_test_util.h"

namespace fusedmoe::reference {
namespace {

using testing::HostTensor;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

struct RouteCase {
  RoutingMethod method = RoutingMethod::kSoftmaxTopK;
  int32_t top_k = 1;
  bool renormalize = false;
  int32_t n_group = 1;
  int32_t topk_group = 1;
  std::vector<double> correction_bias;
  std::vector<double> logits_bias;
  DType logits_dtype = DType::kFloat32;
};

struct RouteResult {
  std::vector<int64_t> ids;
  std::vector<double> weights;
};

RouteResult route_rows(const RouteCase& c, const std::vector<double>& logits, int64_t num_experts) {
  MoeConfig moe;
  moe.num_experts = static_cast<int32_t>(num_experts);
  moe.top_k = c.top_k;
  RoutingConfig routing;
  routing.method = c.method;
  routing.renormalize = c.renormalize;
  routing.n_group = c.n_group;
  routing.topk_group = c.topk_group;
  const MoePlan plan = testing::make_plan_for_test(moe, routing);
  const int64_t tokens = static_cast<int64_t>(logits.size()) / num_experts;
  const HostTensor logits_tensor = HostTensor::of(c.logits_dtype, {tokens, num_experts}, logits);
  HostTensor correction;
  HostTensor bias;
  RoutingInputs inputs;
  inputs.router_logits = logits_tensor;
  if (!c.correction_bias.empty()) {
    correction = HostTensor::of(DType::kFloat32, {num_experts}, c.correction_bias);
    inputs.correction_bias = correction;
  }
  if (!c.logits_bias.empty()) {
    bias = HostTensor::of(DType::kFloat32, {num_experts}, c.logits_bias);
    inputs.logits_bias = bias;
  }
  HostTensor ids(DType::kInt32, {tokens, c.top_k});
  HostTensor weights(DType::kFloat32, {tokens, c.top_k});
  route(plan, inputs, ids, weights);
  RouteResult result;
  for (double id : ids.values()) result.ids.push_back(static_cast<int64_t>(id));
  result.weights = weights.values();
  return result;
}

void expect_weights(const std::vector<double>& actual, const std::vector<double>& expected,
                    double tolerance = 1e-6) {
  ASSERT_EQ(actual.size(), expected.size());
  for (size_t i = 0; i < actual.size(); ++i) {
    ASSERT_FALSE(std::isnan(actual[i])) << "weight " << i;
    EXPECT_NEAR(actual[i], expected[i], tolerance) << "weight " << i;
  }
}

// ---- kSoftmaxTopK ------------------------------------------------------------------------------
TEST(ReferenceRouting, SoftmaxTopKWeightsAreFullSoftmaxProbabilities) {
  RouteCase c;
  c.top_k = 2;
  // softmax([1, 2, 3, 0]): denominators 1 + e + e^2 + e^3 = 31.19287485
  const RouteResult r = route_rows(c, {1, 2, 3, 0}, 4);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2, 1}));
  expect_weights(r.weights, {20.08553692 / 31.19287485, 7.38905610 / 31.19287485});
}

TEST(ReferenceRouting, SoftmaxTopKRenormalizedWeightsSumToOne) {
  RouteCase c;
  c.top_k = 2;
  c.renormalize = true;
  const RouteResult r = route_rows(c, {1, 2, 3, 0}, 4);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2, 1}));
  expect_weights(r.weights, {0.73105858, 0.26894142});  // 1 / (1 + e^-1), its complement
}

TEST(ReferenceRouting, BFloat16LogitsAreReadNatively) {
  RouteCase c;
  c.top_k = 2;
  c.renormalize = true;
  c.logits_dtype = DType::kBFloat16;
  const RouteResult r = route_rows(c, {1, 2, 3, 0}, 4);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2, 1}));
  expect_weights(r.weights, {0.73105858, 0.26894142});
}

TEST(ReferenceRouting, SoftmaxTopKNaNRanksLowestAndPlusInfTakesAllMass) {
  RouteCase c;
  c.top_k = 3;
  // NaN -> -inf; +inf -> FLT_MAX, whose softmax is 1 and leaves 0 to everything else.
  const RouteResult r = route_rows(c, {kNaN, kInf, 0.0, -kInf}, 4);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 2, 0}));
  expect_weights(r.weights, {1.0, 0.0, 0.0}, 0.0);
}

TEST(ReferenceRouting, SoftmaxTopKTwoPlusInfLogitsShareTheMass) {
  RouteCase c;
  c.top_k = 2;
  const RouteResult r = route_rows(c, {0.0, kInf, kInf}, 3);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 2}));
  expect_weights(r.weights, {0.5, 0.5}, 0.0);
}

TEST(ReferenceRouting, TiesGoToTheLowerExpertId) {
  RouteCase c;
  c.top_k = 2;
  const RouteResult r = route_rows(c, {1.0, 1.5, 1.5, 1.5}, 4);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 2}));
}

TEST(ReferenceRouting, SoftmaxTopKRanksByLogitEvenWhereProbabilitiesUnderflow) {
  // exp(-1000 - 0) underflows to 0 for both -1000 and -2000: ranking by logit still orders them.
  RouteCase c;
  c.top_k = 3;
  const RouteResult r = route_rows(c, {-2000.0, 0.0, -1000.0}, 3);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 2, 0}));
  expect_weights(r.weights, {1.0, 0.0, 0.0}, 0.0);
}

// ---- kTopKSoftmax ------------------------------------------------------------------------------
TEST(ReferenceRouting, TopKSoftmaxNormalizesOverTheSelectedOnly) {
  RouteCase c;
  c.method = RoutingMethod::kTopKSoftmax;
  c.top_k = 2;
  const RouteResult r = route_rows(c, {-5.0, -3.0, -4.0, -10.0}, 4);  // all negative
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 2}));
  expect_weights(r.weights, {0.73105858, 0.26894142});
}

TEST(ReferenceRouting, TopKSoftmaxGivesZeroWeightToSelectedMinusInf) {
  RouteCase c;
  c.method = RoutingMethod::kTopKSoftmax;
  c.top_k = 2;
  const RouteResult r = route_rows(c, {-kInf, 0.5, kNaN}, 3);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 0}));
  expect_weights(r.weights, {1.0, 0.0}, 0.0);
}

TEST(ReferenceRouting, LogitsBiasIsAddedBeforeSelection) {
  RouteCase c;
  c.method = RoutingMethod::kTopKSoftmax;
  c.top_k = 2;
  c.logits_bias = {0.0, 0.0, 3.0, 0.0};
  const RouteResult r = route_rows(c, {1.0, 2.0, 0.0, 0.5}, 4);
  // Biased logits [1, 2, 3, 0.5]: top-2 = {2, 1}, softmax over [3, 2].
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2, 1}));
  expect_weights(r.weights, {0.73105858, 0.26894142});
}

// ---- sigmoid methods ---------------------------------------------------------------------------
TEST(ReferenceRouting, SigmoidTopKWeightsAreSigmoids) {
  RouteCase c;
  c.method = RoutingMethod::kSigmoidTopK;
  c.top_k = 2;
  const RouteResult r = route_rows(c, {0.0, 2.0, -1.0, 1.0}, 4);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{1, 3}));
  expect_weights(r.weights, {0.88079708, 0.73105858});
}

TEST(ReferenceRouting, SigmoidTopKRenormalizesBySumPlusEpsilon) {
  RouteCase c;
  c.method = RoutingMethod::kSigmoidTopK;
  c.top_k = 2;
  c.renormalize = true;
  const RouteResult r = route_rows(c, {0.0, 2.0, -1.0, 1.0}, 4);
  expect_weights(r.weights, {0.88079708 / 1.61185566, 0.73105858 / 1.61185566});
}

TEST(ReferenceRouting, Llama4PicksTheTopLogitAndWeighsItWithItsSigmoid) {
  RouteCase c;
  c.method = RoutingMethod::kLlama4Top1Sigmoid;
  c.top_k = 1;
  const RouteResult r = route_rows(c, {0.5, -1.0, 3.0, 2.9}, 4);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2}));
  expect_weights(r.weights, {0.95257413});
}

// Keys 0.5 + bias per group (size 2): g0 {0.625, 0.5} = 1.125, g1 {0.875, 0.125} = 1.0,
// g2 {0.5625, 0.5625} = 1.125 (ties g0, loses to the lower group), g3 {0.5, 0.75} = 1.25.
// Kept groups: g3, g0. Expert 2 has the best key overall but sits in a dropped group.
RouteCase deepseek_case() {
  RouteCase c;
  c.method = RoutingMethod::kSigmoidGroupedTopK;
  c.top_k = 2;
  c.n_group = 4;
  c.topk_group = 2;
  c.correction_bias = {0.125, 0.0, 0.375, -0.375, 0.0625, 0.0625, 0.0, 0.25};
  return c;
}

TEST(ReferenceRouting, GroupedTopKKeepsTheBestGroupsAndWeighsWithUnbiasedSigmoid) {
  const RouteResult r = route_rows(deepseek_case(), std::vector<double>(8, 0.0), 8);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{7, 0}));
  expect_weights(r.weights, {0.5, 0.5}, 0.0);  // sigmoid(0), not the biased keys
}

TEST(ReferenceRouting, GroupedTopKRenormalizesUnbiasedWeights) {
  RouteCase c = deepseek_case();
  c.renormalize = true;
  std::vector<double> logits(8, 0.0);
  logits[7] = 1.0;  // s = 0.73105858, key 0.98105858; expert 0 keeps s = 0.5
  const RouteResult r = route_rows(c, logits, 8);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{7, 0}));
  expect_weights(r.weights, {0.73105858 / 1.23105858, 0.5 / 1.23105858});
}

TEST(ReferenceRouting, GroupedTopKWithoutGroupsIsBiasedSigmoidTopK) {
  RouteCase c = deepseek_case();
  c.n_group = 1;
  const RouteResult r = route_rows(c, std::vector<double>(8, 0.0), 8);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2, 7}));  // keys 0.875, 0.75
}

TEST(ReferenceRouting, GroupedTopKWithSingleExpertGroupsScoresByTheExpert) {
  RouteCase c = deepseek_case();
  c.n_group = 8;
  c.topk_group = 3;  // keeps experts 2 (0.875), 7 (0.75), 0 (0.625)
  c.top_k = 3;
  const RouteResult r = route_rows(c, std::vector<double>(8, 0.0), 8);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2, 7, 0}));
}

TEST(ReferenceRouting, GroupedTopKNaNLogitRanksLowestWhateverItsBias) {
  RouteCase c;
  c.method = RoutingMethod::kSigmoidGroupedTopK;
  c.top_k = 1;
  c.correction_bias = {10.0, 0.0, 0.0};
  const RouteResult r = route_rows(c, {kNaN, -1.0, 1.0}, 3);
  EXPECT_EQ(r.ids, (std::vector<int64_t>{2}));
  expect_weights(r.weights, {0.73105858});
}

TEST(ReferenceRouting, CorrectionBiasWithANonGroupedMethodIsRejected) {
  RouteCase c;
  c.method = RoutingMethod::kSigmoidTopK;
  c.correction_bias = {0.0, 0.0};
  EXPECT_THROW(route_rows(c, {0.0, 1.0}, 2), Error);
}

// ---- policies common to every method ------------------------------------------------------------
class ReferenceRoutingEveryMethod : public ::testing::TestWithParam<RoutingMethod> {
 protected:
  RouteCase make_case(int32_t top_k) const {
    RouteCase c;
    c.method = GetParam();
    c.top_k = GetParam() == RoutingMethod::kLlama4Top1Sigmoid ? 1 : top_k;
    c.renormalize = true;
    if (GetParam() == RoutingMethod::kSigmoidGroupedTopK) {
      c.n_group = 4;
      c.topk_group = 2;
      c.correction_bias = std::vector<double>(16, 0.0);
    }
    return c;
  }
};

TEST_P(ReferenceRoutingEveryMethod, AllNaNRowGivesDistinctValidIdsAndZeroWeights) {
  const RouteCase c = make_case(4);
  const RouteResult r = route_rows(c, std::vector<double>(16, kNaN), 16);
  const std::set<int64_t> distinct(r.ids.begin(), r.ids.end());
  EXPECT_EQ(distinct.size(), r.ids.size());
  for (int64_t id : r.ids) EXPECT_TRUE(id >= 0 && id < 16) << id;
  expect_weights(r.weights, std::vector<double>(r.ids.size(), 0.0), 0.0);
}

TEST_P(ReferenceRoutingEveryMethod, MixedNonFiniteRowsGiveDistinctIdsAndFiniteWeights) {
  const RouteCase c = make_case(8);
  testing::Random random(7);
  std::vector<double> logits;
  for (int row = 0; row < 64; ++row) {
    for (int e = 0; e < 16; ++e) {
      const double pick = random.uniform();
      logits.push_back(pick < 0.2 ? kNaN : pick < 0.3 ? kInf : pick < 0.4 ? -kInf : random.normal());
    }
  }
  const RouteResult r = route_rows(c, logits, 16);
  const size_t k = r.ids.size() / 64;
  for (size_t row = 0; row < 64; ++row) {
    const std::set<int64_t> distinct(r.ids.begin() + row * k, r.ids.begin() + (row + 1) * k);
    EXPECT_EQ(distinct.size(), k) << "row " << row;
    for (int64_t id : distinct) EXPECT_TRUE(id >= 0 && id < 16) << id;
    for (size_t s = 0; s < k; ++s) {
      const double w = r.weights[row * k + s];
      EXPECT_TRUE(std::isfinite(w) && w >= 0.0 && w <= 1.0) << "row " << row << " weight " << w;
    }
  }
}

TEST_P(ReferenceRoutingEveryMethod, CapturesIdsIntoRoutedExpertsOut) {
  const RouteCase c = make_case(2);
  MoeConfig moe;
  moe.num_experts = 16;
  moe.top_k = c.top_k;
  RoutingConfig routing;
  routing.method = c.method;
  routing.n_group = c.n_group;
  routing.topk_group = c.topk_group;
  testing::Random random(3);
  const HostTensor logits = HostTensor::of(DType::kFloat32, {5, 16}, random.normals(80));
  HostTensor capture(DType::kInt16, {5, c.top_k});
  HostTensor ids(DType::kInt32, {5, c.top_k});
  HostTensor weights(DType::kFloat32, {5, c.top_k});
  RoutingInputs inputs;
  inputs.router_logits = logits;
  inputs.routed_experts_out = capture;
  route(testing::make_plan_for_test(moe, routing), inputs, ids, weights);
  EXPECT_EQ(capture.values(), ids.values());
}

INSTANTIATE_TEST_SUITE_P(Reference, ReferenceRoutingEveryMethod,
                         ::testing::Values(RoutingMethod::kSoftmaxTopK, RoutingMethod::kTopKSoftmax,
                                           RoutingMethod::kSigmoidGroupedTopK,
                                           RoutingMethod::kLlama4Top1Sigmoid, RoutingMethod::kSigmoidTopK),
                         [](const ::testing::TestParamInfo<RoutingMethod>& info) {
                           return std::string(routing_method_name(info.param));
                         });

TEST(ReferenceRouting, WeightsNeverIncludeRoutedScalingFactor) {
  MoeConfig moe;
  moe.num_experts = 4;
  moe.top_k = 2;
  RoutingConfig routing;
  routing.method = RoutingMethod::kSigmoidGroupedTopK;
  routing.renormalize = true;
  routing.routed_scaling_factor = 2.5f;
  const HostTensor logits = HostTensor::of(DType::kFloat32, {1, 4}, {0.0, 1.0, 2.0, 3.0});
  HostTensor ids(DType::kInt32, {1, 2});
  HostTensor weights(DType::kFloat32, {1, 2});
  RoutingInputs inputs;
  inputs.router_logits = logits;
  route(testing::make_plan_for_test(moe, routing), inputs, ids, weights);
  EXPECT_NEAR(weights.at({0, 0}) + weights.at({0, 1}), 1.0, 1e-6);
}

}  // namespace
}  // namespace fusedmoe::reference
