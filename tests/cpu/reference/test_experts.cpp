// Expert compute reference: hand-computed rows, gate/up layouts, biases and row weights, static FP8
// activations, layouts (contiguous / masked), and the error of every weight format against an
// exact evaluation of the master weights.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <limits>

#include "reference/reference.h"
#include "reference_test_util.h"
#include "test_layer.h"

namespace fusedmoe::reference {
namespace {

using testing::HostTensor;
using testing::TestLayer;

MoeConfig small_config(int32_t hidden, int32_t inter, int32_t experts, Activation activation) {
  MoeConfig moe;
  moe.hidden_size = hidden;
  moe.intermediate_size = inter;
  moe.num_experts = experts;
  moe.top_k = 1;
  moe.activation = activation;
  return moe;
}

// Runs contiguous experts where every row of `x` [rows, H] belongs to the expert in `row_expert`
// (rows must be grouped by expert).
HostTensor run_contiguous(const MoeConfig& moe, const ExpertWeights& weights, const HostTensor& x,
                          const std::vector<double>& offsets, const HostTensor* row_weights = nullptr,
                          const HostTensor* x_scale = nullptr) {
  const HostTensor offsets_tensor =
      HostTensor::of(DType::kInt32, {static_cast<int64_t>(offsets.size())}, offsets);
  ExpertsInputs inputs;
  inputs.hidden_states = x;
  inputs.expert_offsets = offsets_tensor;
  if (row_weights) inputs.row_weights = *row_weights;
  if (x_scale) inputs.hidden_states_scale = *x_scale;
  const DType out_dtype = x.view().dtype == DType::kFloat8E4M3 ? DType::kBFloat16 : x.view().dtype;
  HostTensor out(out_dtype, {x.view().shape[0], moe.hidden_size});
  experts(testing::make_plan_for_test(moe), inputs, weights, out);
  return out;
}

TEST(ReferenceExperts, HandComputedSwiGLURowRoundsIntermediateAndOutputToBf16) {
  const MoeConfig moe = small_config(2, 1, 1, Activation::kSwiGLU);
  ExpertWeights w;
  const HostTensor w13 = HostTensor::of(DType::kBFloat16, {1, 2, 2}, {1, 0, 0, 1});  // gate = x0, up = x1
  const HostTensor w2 = HostTensor::of(DType::kBFloat16, {1, 2, 1}, {1, 0.5});
  w.w13 = w13;
  w.w2 = w2;
  const HostTensor x = HostTensor::of(DType::kBFloat16, {1, 2}, {2, 3});
  // silu(2) * 3 = 5.284782 -> bf16 5.28125; y = [5.28125, 2.640625] (exact in bf16)
  EXPECT_EQ(run_contiguous(moe, w, x, {0, 1}).values(), (std::vector<double>{5.28125, 2.640625}));
}

TEST(ReferenceExperts, BiasesAndRowWeightApplyBeforeTheFinalRounding) {
  const MoeConfig moe = small_config(2, 1, 1, Activation::kReLU2);
  ExpertWeights w;
  const HostTensor w13 = HostTensor::of(DType::kBFloat16, {1, 1, 2}, {1, 1});
  const HostTensor b13 = HostTensor::of(DType::kFloat32, {1, 1}, {-1});
  const HostTensor w2 = HostTensor::of(DType::kBFloat16, {1, 2, 1}, {0.5, 1});
  const HostTensor b2 = HostTensor::of(DType::kBFloat16, {1, 2}, {1, -1});
  w.w13 = w13;
  w.w13_bias = b13;
  w.w2 = w2;
  w.w2_bias = b2;
  const HostTensor x = HostTensor::of(DType::kBFloat16, {1, 2}, {2, 1});
  const HostTensor row_weight = HostTensor::of(DType::kFloat32, {1}, {0.25});
  // h = 3 - 1 = 2; relu(2)^2 = 4; y = [0.5 * 4 + 1, 4 - 1] * 0.25
  EXPECT_EQ(run_contiguous(moe, w, x, {0, 1}, &row_weight).values(), (std::vector<double>{0.75, 0.75}));
}

TEST(ReferenceExperts, StaticFp8ActivationsQuantizeBothGemmInputs) {
  MoeConfig moe = small_config(2, 1, 2, Activation::kReLU2);
  moe.activation_quant = ActivationQuant::kFP8PerTensor;
  ExpertWeights w;
  const HostTensor w13 = HostTensor::of(DType::kBFloat16, {2, 1, 2}, {1, 0, 1, 0});
  const HostTensor w2 = HostTensor::of(DType::kBFloat16, {2, 2, 1}, {1, 2, 1, 2});
  const HostTensor a1 = HostTensor::of(DType::kFloat32, {1}, {1.0});
  const HostTensor a2 = HostTensor::of(DType::kFloat32, {2}, {0.5, 0.25});
  w.w13 = w13;
  w.w2 = w2;
  w.a1_scale = a1;
  w.a2_scale = a2;
  const HostTensor x = HostTensor::of(DType::kBFloat16, {2, 2}, {1.1, 0, 1.1, 0});
  // x0 = bf16(1.1) = 1.1015625 -> e4m3 1.125; h = 1.125; relu2 = 1.265625.
  // Expert 0: /0.5 = 2.53125 -> e4m3 2.5 -> 1.25. Expert 1: /0.25 = 5.0625 -> e4m3 5 -> 1.25.
  EXPECT_EQ(run_contiguous(moe, w, x, {0, 1, 2}).values(), (std::vector<double>{1.25, 2.5, 1.25, 2.5}));
  // The same layer without activation quantization rounds the intermediate to bf16 instead:
  // relu2(1.1015625) = 1.21344 -> bf16 1.2109375.
  moe.activation_quant = ActivationQuant::kNone;
  EXPECT_EQ(run_contiguous(moe, w, x, {0, 1, 2}).values(),
            (std::vector<double>{1.2109375, 2.421875, 1.2109375, 2.421875}));
}

TEST(ReferenceExperts, GateUpLayoutsDescribeTheSameExpert) {
  MoeConfig moe = small_config(8, 3, 1, Activation::kSwiGLU);
  const TestLayer layer = testing::make_layer(moe, 21);
  testing::Random random(22);
  const HostTensor x = HostTensor::of(DType::kBFloat16, {4, 8}, random.normals(32));
  const HostTensor reference = run_contiguous(moe, layer.weights(), x, {0, 4});

  // Row j of gate / up in the [gate; up] checkpoint, moved to the other layouts.
  for (GateUpLayout layout : {GateUpLayout::kUpThenGate, GateUpLayout::kInterleaved}) {
    HostTensor w13(DType::kBFloat16, {1, 6, 8});
    for (int64_t j = 0; j < 3; ++j) {
      const int64_t gate_row = layout == GateUpLayout::kInterleaved ? 2 * j : 3 + j;
      const int64_t up_row = layout == GateUpLayout::kInterleaved ? 2 * j + 1 : j;
      for (int64_t k = 0; k < 8; ++k) {
        w13.set_flat(gate_row * 8 + k, layer.w13.at({0, j, k}));
        w13.set_flat(up_row * 8 + k, layer.w13.at({0, 3 + j, k}));
      }
    }
    ExpertWeights w = layer.weights();
    w.w13 = w13;
    moe.gate_up_layout = layout;
    EXPECT_TRUE(testing::bitwise_equal(run_contiguous(moe, w, x, {0, 4}), reference))
        << "layout " << static_cast<int>(layout);
  }
}

TEST(ReferenceExperts, MaskedLayoutMatchesContiguousAndLeavesRowsPastTheCountUntouched) {
  const MoeConfig moe = small_config(16, 8, 2, Activation::kSwiGLU);
  const TestLayer layer = testing::make_layer(moe, 31);
  testing::Random random(32);
  const std::vector<double> rows = random.normals(5 * 16);  // expert 0: 2 rows, expert 1: 3 rows
  const HostTensor contiguous_x = HostTensor::of(DType::kBFloat16, {5, 16}, rows);
  const HostTensor contiguous = run_contiguous(moe, layer.weights(), contiguous_x, {0, 2, 5});

  const int64_t capacity = 4;
  HostTensor masked_x(DType::kBFloat16, {2, capacity, 16});
  for (int64_t h = 0; h < 16; ++h) {
    for (int64_t r = 0; r < 2; ++r) masked_x.set_flat(r * 16 + h, rows[r * 16 + h]);
    for (int64_t r = 0; r < 3; ++r) masked_x.set_flat((capacity + r) * 16 + h, rows[(2 + r) * 16 + h]);
  }
  const HostTensor counts = HostTensor::of(DType::kInt32, {2}, {2, 3});
  HostTensor out(DType::kBFloat16, {2, capacity, 16});
  for (int64_t i = 0; i < out.logical_size(); ++i) out.set_flat(i, 512.0);
  ExpertsInputs inputs;
  inputs.layout = ExpertInputLayout::kMasked;
  inputs.hidden_states = masked_x;
  inputs.expert_counts = counts;
  experts(testing::make_plan_for_test(moe), inputs, layer.weights(), out);

  for (int64_t h = 0; h < 16; ++h) {
    for (int64_t r = 0; r < 2; ++r) EXPECT_EQ(out.at({0, r, h}), contiguous.at({r, h}));
    for (int64_t r = 0; r < 3; ++r) EXPECT_EQ(out.at({1, r, h}), contiguous.at({2 + r, h}));
    EXPECT_EQ(out.at({0, 2, h}), 512.0);
    EXPECT_EQ(out.at({0, 3, h}), 512.0);
    EXPECT_EQ(out.at({1, 3, h}), 512.0);
  }
}

TEST(ReferenceExperts, ContiguousCountsLeavePaddingRowsUntouched) {
  const MoeConfig moe = small_config(16, 8, 1, Activation::kSwiGLU);
  const TestLayer layer = testing::make_layer(moe, 41);
  const HostTensor x = HostTensor::of(DType::kBFloat16, {4, 16}, testing::Random(42).normals(64));
  const HostTensor offsets = HostTensor::of(DType::kInt32, {2}, {0, 4});
  const HostTensor counts = HostTensor::of(DType::kInt32, {1}, {3});
  HostTensor out(DType::kBFloat16, {4, 16});
  for (int64_t i = 0; i < 64; ++i) out.set_flat(i, 512.0);
  ExpertsInputs inputs;
  inputs.hidden_states = x;
  inputs.expert_offsets = offsets;
  inputs.expert_counts = counts;
  experts(testing::make_plan_for_test(moe), inputs, layer.weights(), out);
  for (int64_t h = 0; h < 16; ++h) {
    EXPECT_NE(out.at({2, h}), 512.0);
    EXPECT_EQ(out.at({3, h}), 512.0);
  }
}

// The reference runs an expert's rows on several threads: with 67 rows over two experts (chunks
// of different sizes on any core count), every row must equal the row computed alone.
TEST(ReferenceExperts, RowsRunTogetherEqualEachRowRunAlone) {
  const MoeConfig moe = small_config(32, 16, 2, Activation::kSwiGLU);
  const TestLayer layer = testing::make_layer(moe, 43);
  const int64_t rows = 67;
  const HostTensor x = HostTensor::of(DType::kBFloat16, {rows, 32}, testing::Random(44).normals(rows * 32));
  const HostTensor together = run_contiguous(moe, layer.weights(), x, {0, 40, static_cast<double>(rows)});
  for (int64_t r = 0; r < rows; ++r) {
    std::vector<double> row_values;
    for (int64_t h = 0; h < 32; ++h) row_values.push_back(x.at({r, h}));
    const HostTensor one = HostTensor::of(DType::kBFloat16, {1, 32}, row_values);
    const std::vector<double> offsets = r < 40 ? std::vector<double>{0, 1, 1} : std::vector<double>{0, 0, 1};
    const HostTensor alone = run_contiguous(moe, layer.weights(), one, offsets);
    for (int64_t h = 0; h < 32; ++h) ASSERT_EQ(together.at({r, h}), alone.at({0, h})) << "row " << r << " column " << h;
  }
}

TEST(ReferenceExperts, PreQuantizedFp8InputEqualsQuantizingInsideTheExperts) {
  for (ActivationQuant quant : {ActivationQuant::kFP8Group128, ActivationQuant::kFP8PerToken}) {
    MoeConfig moe = small_config(256, 128, 1, Activation::kSwiGLU);
    moe.weight_format = WeightFormat::kFP8Block128;
    moe.activation_quant = quant;
    const TestLayer layer = testing::make_layer(moe, 51);
    const std::vector<double> rows = testing::Random(52).normals(3 * 256);
    const HostTensor x = HostTensor::of(DType::kBFloat16, {3, 256}, rows);
    const HostTensor from_bf16 = run_contiguous(moe, layer.weights(), x, {0, 3});

    // Quantize the rows the way dispatch does, then hand the e4m3 rows and scales to the experts.
    const HostTensor ids = HostTensor::of(DType::kInt32, {3, 1}, {0, 0, 0});
    HostTensor q(DType::kFloat8E4M3, {3, 256});
    HostTensor scales = quant == ActivationQuant::kFP8Group128 ? HostTensor(DType::kFloat32, {3, 2})
                                                               : HostTensor(DType::kFloat32, {3});
    HostTensor off(DType::kInt32, {2}), cnt(DType::kInt32, {1}), r2s(DType::kInt32, {3}), s2r(DType::kInt32, {3, 1});
    DispatchMaps maps{off, cnt, r2s, s2r};
    dispatch(testing::make_plan_for_test(moe), ids, 1, maps, x, q, scales);
    const HostTensor from_fp8 = run_contiguous(moe, layer.weights(), q, {0, 3}, nullptr, &scales);
    EXPECT_TRUE(testing::bitwise_equal(from_fp8, from_bf16)) << activation_quant_name(quant);
  }
}

TEST(ReferenceExperts, StaticFp8InputWithoutScaleTensorUsesA1Scale) {
  MoeConfig moe = small_config(128, 64, 1, Activation::kSwiGLU);
  moe.weight_format = WeightFormat::kFP8PerTensor;
  moe.activation_quant = ActivationQuant::kFP8PerTensor;
  const TestLayer layer = testing::make_layer(moe, 55);
  const HostTensor x = HostTensor::of(DType::kBFloat16, {2, 128}, testing::Random(56).normals(256));
  const HostTensor from_bf16 = run_contiguous(moe, layer.weights(), x, {0, 2});

  const HostTensor ids = HostTensor::of(DType::kInt32, {2, 1}, {0, 0});
  HostTensor q(DType::kFloat8E4M3, {2, 128});
  HostTensor off(DType::kInt32, {2}), cnt(DType::kInt32, {1}), r2s(DType::kInt32, {2}), s2r(DType::kInt32, {2, 1});
  DispatchMaps maps{off, cnt, r2s, s2r};
  dispatch(testing::make_plan_for_test(moe), ids, 1, maps, x, q, layer.a1_scale);
  EXPECT_TRUE(testing::bitwise_equal(run_contiguous(moe, layer.weights(), q, {0, 2}), from_bf16));
}

TEST(ReferenceExperts, NaNInARowReachesThatRowsOutput) {
  const MoeConfig moe = small_config(16, 8, 1, Activation::kSwiGLU);
  const TestLayer layer = testing::make_layer(moe, 61);
  std::vector<double> rows = testing::Random(62).normals(32);
  rows[3] = std::numeric_limits<double>::quiet_NaN();
  const HostTensor out = run_contiguous(moe, layer.weights(), HostTensor::of(DType::kBFloat16, {2, 16}, rows), {0, 2});
  for (int64_t h = 0; h < 16; ++h) {
    EXPECT_TRUE(std::isnan(out.at({0, h})));
    EXPECT_TRUE(std::isfinite(out.at({1, h})));
  }
}

// ---- every format against the exact master-weight expert -----------------------------------------
struct FormatCase {
  WeightFormat format;
  ActivationQuant quant;
  Activation activation;
  double bound;  // rel-L2 against the exact evaluation of the unquantized master weights
};

class ReferenceExpertsFormats : public ::testing::TestWithParam<FormatCase> {};

double format_error(const FormatCase& c, double magnitude, bool biases) {
  MoeConfig moe = small_config(256, 128, 2, c.activation);
  moe.weight_format = c.format;
  moe.activation_quant = c.quant;
  if (c.activation == Activation::kSwiGLUOAI) {
    moe.activation_params.clamp_limit = 7.0f;
    moe.gate_up_layout = GateUpLayout::kInterleaved;
  }
  const TestLayer layer = testing::make_layer(moe, 71, magnitude, biases);
  const std::vector<double> rows = testing::Random(72).normals(8 * 256);
  const HostTensor x = HostTensor::of(DType::kBFloat16, {8, 256}, rows);
  const HostTensor out = run_contiguous(moe, layer.weights(), x, {0, 5, 8});
  std::vector<double> exact;
  for (int64_t r = 0; r < 8; ++r) {
    const std::vector<double> row = std::vector<double>(HostTensor::of(DType::kBFloat16, {256},
        std::vector<double>(rows.begin() + r * 256, rows.begin() + (r + 1) * 256)).values());
    const std::vector<double> y = testing::exact_expert(layer, r < 5 ? 0 : 1, row);
    exact.insert(exact.end(), y.begin(), y.end());
  }
  return testing::relative_l2(out.values(), exact);
}

TEST_P(ReferenceExpertsFormats, OutputMatchesExactMasterWeightsWithinFormatError) {
  EXPECT_LT(format_error(GetParam(), 1.0, /*biases=*/true), GetParam().bound);
}

TEST_P(ReferenceExpertsFormats, TinyMagnitudeWeightsStayWithinTheSameErrorBound) {
  // No biases: they would dominate the tiny output (gated experts scale as magnitude^3, ~1e-24
  // here) and hide the weights' error. Static activation scales are calibrated to the magnitude.
  EXPECT_LT(format_error(GetParam(), 1e-8, /*biases=*/false), GetParam().bound);
}

// Bounds: bf16 rounding of input, intermediate and output gives ~3 * 2^-9 / sqrt(3) ~ 0.004; fp8
// e4m3 weights and activations add ~0.02-0.03 each; e2m1 weights ~0.1.
INSTANTIATE_TEST_SUITE_P(
    Reference, ReferenceExpertsFormats,
    ::testing::Values(FormatCase{WeightFormat::kBF16, ActivationQuant::kNone, Activation::kSwiGLU, 0.01},
                      FormatCase{WeightFormat::kBF16, ActivationQuant::kNone, Activation::kReLU2, 0.01},
                      FormatCase{WeightFormat::kBF16, ActivationQuant::kNone, Activation::kSwiGLUOAI, 0.01},
                      FormatCase{WeightFormat::kBF16, ActivationQuant::kNone, Activation::kGeGLUTanh, 0.01},
                      FormatCase{WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerTensor, Activation::kSwiGLU, 0.08},
                      FormatCase{WeightFormat::kFP8PerTensor, ActivationQuant::kFP8PerToken, Activation::kSwiGLU, 0.08},
                      FormatCase{WeightFormat::kFP8Block128, ActivationQuant::kFP8Group128, Activation::kSwiGLU, 0.08},
                      FormatCase{WeightFormat::kMXFP4, ActivationQuant::kNone, Activation::kSwiGLUOAI, 0.25},
                      FormatCase{WeightFormat::kNVFP4, ActivationQuant::kNone, Activation::kSwiGLU, 0.25}),
    [](const ::testing::TestParamInfo<FormatCase>& info) {
      std::string name = std::string(weight_format_name(info.param.format)) + "_" +
                         activation_quant_name(info.param.quant) + "_" + activation_name(info.param.activation);
      for (char& ch : name) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return name;
    });

}  // namespace
}  // namespace fusedmoe::reference
