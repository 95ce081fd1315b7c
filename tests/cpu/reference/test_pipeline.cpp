// Fused and routed references on random small layers: agreement with the exact MoE formula, and
// the properties every implementation must keep (routed == fused bitwise, token order, EP shards,
// routed_scaling_factor applied once, weight on input).
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>

#include "reference/reference.h"
#include "reference_test_util.h"
#include "test_layer.h"

namespace fusedmoe::reference {
namespace {

using testing::HostTensor;
using testing::TestLayer;

constexpr int64_t kTokens = 12;

struct Problem {
  MoePlan plan;
  TestLayer layer;
  HostTensor hidden, logits, correction_bias, shared;

  FusedInputs fused_inputs(bool with_shared = false) const {
    FusedInputs in;
    in.hidden_states = hidden;
    in.routing.router_logits = logits;
    if (correction_bias.view().defined()) in.routing.correction_bias = correction_bias;
    if (with_shared) in.shared_output = shared;
    return in;
  }
};

Problem make_problem(RoutingMethod method, WeightFormat format, ActivationQuant quant, uint64_t seed) {
  MoeConfig moe;
  moe.hidden_size = 128;
  moe.intermediate_size = 64;
  moe.num_experts = 8;
  moe.top_k = method == RoutingMethod::kLlama4Top1Sigmoid ? 1 : 2;
  moe.weight_format = format;
  moe.activation_quant = quant;
  if (method == RoutingMethod::kLlama4Top1Sigmoid) moe.router_weight_apply = RouterWeightApply::kOnInput;
  RoutingConfig routing;
  routing.method = method;
  routing.renormalize = true;
  if (method == RoutingMethod::kSigmoidGroupedTopK) {
    routing.n_group = 4;
    routing.topk_group = 2;
    routing.routed_scaling_factor = 2.5f;
  }
  Problem p;
  p.plan = testing::make_plan_for_test(moe, routing);
  p.layer = testing::make_layer(moe, seed);
  testing::Random random(seed + 1);
  p.hidden = HostTensor::of(DType::kBFloat16, {kTokens, 128}, random.normals(kTokens * 128));
  p.logits = HostTensor::of(DType::kFloat32, {kTokens, 8}, random.normals(kTokens * 8, 2.0));
  p.shared = HostTensor::of(DType::kBFloat16, {kTokens, 128}, random.normals(kTokens * 128, 0.5));
  if (method == RoutingMethod::kSigmoidGroupedTopK) {
    p.correction_bias = HostTensor::of(DType::kFloat32, {8}, random.normals(8, 0.1));
  }
  return p;
}

HostTensor run_fused(const Problem& p, bool with_shared = false) {
  HostTensor out(DType::kBFloat16, {kTokens, 128});
  fused(p.plan, p.fused_inputs(with_shared), p.layer.weights(), out);
  return out;
}

struct RoutingOutput {
  HostTensor ids, weights;
};

RoutingOutput run_route(const Problem& p) {
  RoutingOutput r{HostTensor(DType::kInt32, {kTokens, p.plan.moe.top_k}),
                  HostTensor(DType::kFloat32, {kTokens, p.plan.moe.top_k})};
  route(p.plan, p.fused_inputs().routing, r.ids, r.weights);
  return r;
}

HostTensor run_routed(const Problem& p, const TensorView& ids, const TensorView& weights, bool with_shared = false) {
  RoutedInputs in;
  in.hidden_states = p.hidden;
  in.topk_ids = ids;
  in.topk_weights = weights;
  if (with_shared) in.shared_output = p.shared;
  HostTensor out(DType::kBFloat16, {kTokens, 128});
  routed(p.plan, in, p.layer.weights(), out);
  return out;
}

// out[t] = rsf * sum_s w * expert(x) (+ shared), or expert(w * x) with the weight on the input,
// from the unquantized master weights and no intermediate rounding.
std::vector<double> exact_moe(const Problem& p, const RoutingOutput& r, bool with_shared) {
  const int64_t k = p.plan.moe.top_k;
  const bool on_input = p.plan.moe.router_weight_apply == RouterWeightApply::kOnInput;
  std::vector<double> out;
  for (int64_t t = 0; t < kTokens; ++t) {
    std::vector<double> acc(128, 0.0);
    for (int64_t s = 0; s < k; ++s) {
      const double w = r.weights.at({t, s});
      std::vector<double> x(128);
      for (int64_t h = 0; h < 128; ++h) x[h] = p.hidden.at({t, h}) * (on_input ? w : 1.0);
      const std::vector<double> y = testing::exact_expert(p.layer, static_cast<int64_t>(r.ids.at({t, s})), x);
      for (int64_t h = 0; h < 128; ++h) acc[h] += (on_input ? 1.0 : w) * y[h];
    }
    for (int64_t h = 0; h < 128; ++h) {
      out.push_back(p.plan.routing.routed_scaling_factor * acc[h] + (with_shared ? p.shared.at({t, h}) : 0.0));
    }
  }
  return out;
}

struct PipelineCase {
  RoutingMethod method;
  WeightFormat format;
  ActivationQuant quant;
  double bound;  // rel-L2 against exact_moe (see test_experts.cpp for the per-format budget)
};

class ReferencePipeline : public ::testing::TestWithParam<PipelineCase> {
 protected:
  Problem problem(uint64_t seed = 100) const {
    return make_problem(GetParam().method, GetParam().format, GetParam().quant, seed);
  }
};

TEST_P(ReferencePipeline, FusedMatchesTheExactMoeFormula) {
  const Problem p = problem();
  const RoutingOutput r = run_route(p);
  EXPECT_LT(testing::relative_l2(run_fused(p, true).values(), exact_moe(p, r, true)), GetParam().bound);
  EXPECT_LT(testing::relative_l2(run_fused(p, false).values(), exact_moe(p, r, false)), GetParam().bound);
}

TEST_P(ReferencePipeline, RoutedGivenTheFusedIdsAndWeightsIsBitwiseFused) {
  const Problem p = problem();
  const RoutingOutput r = run_route(p);
  EXPECT_TRUE(testing::bitwise_equal(run_routed(p, r.ids, r.weights, true), run_fused(p, true)));
}

TEST_P(ReferencePipeline, TokenOrderDoesNotMatter) {
  const Problem p = problem();
  Problem reversed = p;
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t h = 0; h < 128; ++h) reversed.hidden.set_flat(t * 128 + h, p.hidden.at({kTokens - 1 - t, h}));
    for (int64_t e = 0; e < 8; ++e) reversed.logits.set_flat(t * 8 + e, p.logits.at({kTokens - 1 - t, e}));
  }
  const HostTensor forward = run_fused(p);
  const HostTensor backward = run_fused(reversed);
  for (int64_t t = 0; t < kTokens; ++t) {
    for (int64_t h = 0; h < 128; ++h) ASSERT_EQ(forward.at({t, h}), backward.at({kTokens - 1 - t, h}));
  }
}

TEST_P(ReferencePipeline, ExpertParallelShardsSumToTheUnshardedOutput) {
  const Problem p = problem();
  const HostTensor whole = run_fused(p);
  std::vector<double> sum(kTokens * 128, 0.0);
  for (int32_t first : {0, 4}) {
    Problem shard = p;
    shard.plan.moe.local_expert_offset = first;
    shard.plan.moe.num_local_experts = 4;
    ExpertWeights w = p.layer.weights();
    for (TensorView* view : {&w.w13, &w.w2, &w.w13_scale, &w.w2_scale, &w.w13_global_scale,
                             &w.w2_global_scale, &w.w13_bias, &w.w2_bias, &w.a1_scale, &w.a2_scale}) {
      *view = testing::expert_slice(*view, first, 4);
    }
    HostTensor out(DType::kBFloat16, {kTokens, 128});
    fused(shard.plan, shard.fused_inputs(), w, out);
    const std::vector<double> values = out.values();
    for (size_t i = 0; i < sum.size(); ++i) sum[i] += values[i];
  }
  // Each shard rounds its partial sum to bf16 once (<= 2^-9 relative), the whole output once.
  EXPECT_LT(testing::relative_l2(sum, whole.values()), 0x1p-8);
}

TEST_P(ReferencePipeline, RoutedScalingFactorTwoDoublesTheOutputExactlyOnce) {
  Problem p = problem();
  p.plan.routing.routed_scaling_factor = 1.0f;
  const std::vector<double> once = run_fused(p).values();
  p.plan.routing.routed_scaling_factor = 2.0f;
  const std::vector<double> twice = run_fused(p).values();
  bool any_nonzero = false;
  for (size_t i = 0; i < once.size(); ++i) {
    ASSERT_EQ(twice[i], 2.0 * once[i]) << "element " << i;  // doubling commutes with rounding
    any_nonzero = any_nonzero || once[i] != 0.0;
  }
  EXPECT_TRUE(any_nonzero);
}

std::string pipeline_name(const ::testing::TestParamInfo<PipelineCase>& info) {
  std::string name = std::string(routing_method_name(info.param.method)) + "_" +
                     weight_format_name(info.param.format) + "_" + activation_quant_name(info.param.quant);
  for (char& ch : name) {
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(
    Reference, ReferencePipeline,
    ::testing::Values(
        PipelineCase{RoutingMethod::kSoftmaxTopK, WeightFormat::kBF16, ActivationQuant::kNone, 0.01},
        PipelineCase{RoutingMethod::kTopKSoftmax, WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerTensor, 0.08},
        PipelineCase{RoutingMethod::kSigmoidGroupedTopK, WeightFormat::kFP8Block128, ActivationQuant::kFP8Group128, 0.08},
        PipelineCase{RoutingMethod::kLlama4Top1Sigmoid, WeightFormat::kBF16, ActivationQuant::kNone, 0.01},
        PipelineCase{RoutingMethod::kSigmoidTopK, WeightFormat::kMXFP4, ActivationQuant::kNone, 0.25},
        PipelineCase{RoutingMethod::kTopKSoftmax, WeightFormat::kNVFP4, ActivationQuant::kNone, 0.25}),
    pipeline_name);

TEST(ReferencePipelineRouted, AcceptsInt64IdsAndBf16WeightsAsTheSameValues) {
  const Problem p = make_problem(RoutingMethod::kSoftmaxTopK, WeightFormat::kBF16, ActivationQuant::kNone, 200);
  const RoutingOutput r = run_route(p);
  HostTensor ids64(DType::kInt64, {kTokens, 2});
  HostTensor weights_bf16(DType::kBFloat16, {kTokens, 2});
  HostTensor weights_fp32(DType::kFloat32, {kTokens, 2});
  for (int64_t i = 0; i < kTokens * 2; ++i) {
    ids64.set_flat(i, r.ids.get_flat(i));
    weights_bf16.set_flat(i, r.weights.get_flat(i));
    weights_fp32.set_flat(i, weights_bf16.get_flat(i));
  }
  EXPECT_TRUE(testing::bitwise_equal(run_routed(p, ids64, weights_bf16), run_routed(p, r.ids, weights_fp32)));
}

TEST(ReferencePipelineRouted, SlotsWithIdMinusOneAddNothing) {
  const Problem p = make_problem(RoutingMethod::kSoftmaxTopK, WeightFormat::kBF16, ActivationQuant::kNone, 300);
  const RoutingOutput r = run_route(p);
  HostTensor ids = r.ids;
  for (int64_t t = 0; t < kTokens; ++t) ids.set_flat(t * 2 + 1, -1);  // drop every second slot
  ids.set_flat(0, -1);                                              // token 0 has no expert at all
  HostTensor single_ids = r.ids;
  HostTensor single_weights = r.weights;
  for (int64_t t = 0; t < kTokens; ++t) {
    single_ids.set_flat(t * 2 + 1, r.ids.get_flat(t * 2));  // same expert twice ...
    single_weights.set_flat(t * 2 + 1, 0.0);                // ... the copy with weight 0
  }
  const HostTensor dropped = run_routed(p, ids, r.weights, true);
  const HostTensor zero_weight = run_routed(p, single_ids, single_weights, true);
  for (int64_t h = 0; h < 128; ++h) EXPECT_EQ(dropped.at({0, h}), p.shared.at({0, h}));
  for (int64_t t = 1; t < kTokens; ++t) {
    for (int64_t h = 0; h < 128; ++h) ASSERT_EQ(dropped.at({t, h}), zero_weight.at({t, h}));
  }
}

TEST(ReferencePipelineRouted, WeightOnInputDiffersFromWeightOnOutput) {
  Problem p = make_problem(RoutingMethod::kLlama4Top1Sigmoid, WeightFormat::kBF16, ActivationQuant::kNone, 400);
  const std::vector<double> on_input = run_fused(p).values();
  p.plan.moe.router_weight_apply = RouterWeightApply::kOnOutput;
  const std::vector<double> on_output = run_fused(p).values();
  // SwiGLU is far from linear at these magnitudes: the two placements must not agree.
  EXPECT_GT(testing::relative_l2(on_input, on_output), 0.05);
}

}  // namespace
}  // namespace fusedmoe::reference
