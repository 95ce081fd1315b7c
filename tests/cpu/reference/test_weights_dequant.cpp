// Weight dequantization from hand-built bytes, one case per WeightFormat.
#include <gtest/gtest.h>

#include <cstring>

#include "reference/weights_dequant.h"
#include "reference_test_util.h"

namespace fusedmoe::reference {
namespace {

using testing::HostTensor;

// e4m3 bytes: 0x38 = 1.0, 0x40 = 2.0, 0xb8 = -1.0, 0x3c = 1.5, 0x48 = 4.0.
TEST(ReferenceWeightsDequant, Bf16ReadsAStridedViewOfTheRequestedExpert) {
  ExpertWeights w;
  const HostTensor w13 = HostTensor::of(DType::kBFloat16, {2, 1, 3}, {1, 2, 3, 4, 5, 6}, /*row_padding=*/5);
  w.w13 = w13;
  const DenseMatrix m = dequantize_expert_matrix(WeightFormat::kBF16, w, WhichMatrix::kW13, 1, 3);
  EXPECT_EQ(m.values, (std::vector<double>{4, 5, 6}));
}

TEST(ReferenceWeightsDequant, Fp8PerTensorMultipliesByTheExpertsScale) {
  ExpertWeights w;
  HostTensor w2(DType::kFloat8E4M3, {2, 1, 3});
  const uint8_t bytes[6] = {0x38, 0x38, 0x38, 0x40, 0xb8, 0x3c};
  std::memcpy(w2.bytes(), bytes, 6);
  const HostTensor scale = HostTensor::of(DType::kFloat32, {2}, {3.0, 0.5});
  w.w2 = w2;
  w.w2_scale = scale;
  const DenseMatrix m = dequantize_expert_matrix(WeightFormat::kFP8PerTensor, w, WhichMatrix::kW2, 1, 3);
  EXPECT_EQ(m.values, (std::vector<double>{1.0, -0.5, 0.75}));
}

TEST(ReferenceWeightsDequant, Fp8Block128UsesTheScaleOfEachElementsBlock) {
  // One expert, N = 130 rows, K = 129 columns: scale blocks [2, 2].
  ExpertWeights w;
  HostTensor w13(DType::kFloat8E4M3, {1, 130, 129});
  std::memset(w13.bytes(), 0x40, 130 * 129);  // every weight 2.0
  w.w13 = w13;
  const HostTensor fp32_scales = HostTensor::of(DType::kFloat32, {1, 2, 2}, {1.0, 0.25, 3.0, 0.125});
  w.w13_scale = fp32_scales;
  DenseMatrix m = dequantize_expert_matrix(WeightFormat::kFP8Block128, w, WhichMatrix::kW13, 0, 129);
  EXPECT_EQ(m.row(0)[127], 2.0);
  EXPECT_EQ(m.row(0)[128], 0.5);
  EXPECT_EQ(m.row(129)[0], 6.0);
  EXPECT_EQ(m.row(128)[128], 0.25);

  HostTensor ue8m0_scales(DType::kUE8M0, {1, 2, 2});
  const uint8_t exponents[4] = {127, 126, 128, 120};  // 1, 0.5, 2, 2^-7
  std::memcpy(ue8m0_scales.bytes(), exponents, 4);
  w.w13_scale = ue8m0_scales;
  m = dequantize_expert_matrix(WeightFormat::kFP8Block128, w, WhichMatrix::kW13, 0, 129);
  EXPECT_EQ(m.row(0)[0], 2.0);
  EXPECT_EQ(m.row(127)[128], 1.0);
  EXPECT_EQ(m.row(128)[5], 4.0);
  EXPECT_EQ(m.row(129)[128], 2.0 / 128);
}

TEST(ReferenceWeightsDequant, Mxfp4ReadsLowNibbleFirstWithOneScalePer32) {
  ExpertWeights w;
  HostTensor w13(DType::kFloat4E2M1x2, {1, 1, 32});  // K = 64
  w13.bytes()[0] = 0x72;   // k0: code 2 (1.0), k1: code 7 (6.0)
  w13.bytes()[1] = 0x9f;   // k2: code 0xf (-6), k3: code 9 (-0.5)
  w13.bytes()[16] = 0x03;  // k32: code 3 (1.5)
  HostTensor scales(DType::kUE8M0, {1, 1, 2});
  scales.bytes()[0] = 128;  // 2
  scales.bytes()[1] = 125;  // 0.25
  w.w13 = w13;
  w.w13_scale = scales;
  const DenseMatrix m = dequantize_expert_matrix(WeightFormat::kMXFP4, w, WhichMatrix::kW13, 0, 64);
  EXPECT_EQ(m.row(0)[0], 2.0);
  EXPECT_EQ(m.row(0)[1], 12.0);
  EXPECT_EQ(m.row(0)[2], -12.0);
  EXPECT_EQ(m.row(0)[3], -1.0);
  EXPECT_EQ(m.row(0)[4], 0.0);
  EXPECT_EQ(m.row(0)[32], 0.375);
}

TEST(ReferenceWeightsDequant, Nvfp4MultipliesCodeBlockScaleAndGlobalScale) {
  ExpertWeights w;
  HostTensor w2(DType::kFloat4E2M1x2, {2, 1, 16});  // K = 32, two experts
  w2.bytes()[16] = 0x05;       // expert 1, k0: code 5 (3.0)
  w2.bytes()[16 + 8] = 0xc0;   // expert 1, k17: code 0xc (-2.0)
  HostTensor scales(DType::kFloat8E4M3, {2, 1, 2});
  const uint8_t codes[4] = {0x00, 0x00, 0x38, 0x48};  // expert 1: 1.0, 4.0
  std::memcpy(scales.bytes(), codes, 4);
  const HostTensor global = HostTensor::of(DType::kFloat32, {2}, {7.0, 0.5});
  w.w2 = w2;
  w.w2_scale = scales;
  w.w2_global_scale = global;
  const DenseMatrix m = dequantize_expert_matrix(WeightFormat::kNVFP4, w, WhichMatrix::kW2, 1, 32);
  EXPECT_EQ(m.row(0)[0], 1.5);
  EXPECT_EQ(m.row(0)[16], 0.0);
  EXPECT_EQ(m.row(0)[17], -4.0);
}

}  // namespace
}  // namespace fusedmoe::reference
