// Roofline floor arithmetic on hand cases.
#include <gtest/gtest.h>

#include <vector>

#include "common/roofline.h"

namespace fusedmoe::tools {
namespace {

MoeConfig tiny_config() {
  MoeConfig moe;
  moe.hidden_size = 4;
  moe.intermediate_size = 2;
  moe.num_experts = 4;
  moe.top_k = 2;
  moe.activation = Activation::kSwiGLU;
  return moe;
}

TEST(RooflineTest, HandCase) {
  const MoeConfig moe = tiny_config();
  const std::vector<int32_t> ids = {0, 1, 1, -1, 3, 0};  // 3 tokens; experts 0, 1, 3; 5 rows
  const Traffic traffic = layer_traffic(moe, ids.data(), 3, 100.0, 4.0);
  EXPECT_EQ(traffic.experts_hit, 3);
  EXPECT_EQ(traffic.local_rows, 5);
  EXPECT_DOUBLE_EQ(traffic.weight_bytes, 300.0);
  EXPECT_DOUBLE_EQ(traffic.activation_bytes, 2 * 3 * 4 * 2);  // in + out, bf16
  EXPECT_DOUBLE_EQ(traffic.logits_bytes, 3 * 4 * 4);
  EXPECT_DOUBLE_EQ(traffic.flops, 2.0 * 5 * (4 * 4 + 4 * 2));  // N1 = 2I = 4
  EXPECT_DOUBLE_EQ(traffic.total_bytes(), 396.0);

  Ceilings ceilings;
  ceilings.read_bytes_per_second = 100.0;
  ceilings.bf16_flops_per_second = 10.0;
  ceilings.fp8_flops_per_second = 20.0;
  const Floor bf16 = roofline_floor(traffic, ceilings, false);
  EXPECT_DOUBLE_EQ(bf16.memory_seconds, 3.96);
  EXPECT_DOUBLE_EQ(bf16.compute_seconds, 24.0);
  EXPECT_DOUBLE_EQ(bf16.seconds(), 24.0);
  EXPECT_FALSE(bf16.memory_bound());
  EXPECT_DOUBLE_EQ(roofline_floor(traffic, ceilings, true).compute_seconds, 12.0);
}

TEST(RooflineTest, OnlyLocalExpertsCount) {
  MoeConfig moe = tiny_config();
  moe.local_expert_offset = 2;
  moe.num_local_experts = 2;  // experts 2, 3
  const std::vector<int32_t> ids = {0, 3, 2, 3, 1, -1};
  const Traffic traffic = layer_traffic(moe, ids.data(), 3, 10.0, 2.0);
  EXPECT_EQ(traffic.experts_hit, 2);
  EXPECT_EQ(traffic.local_rows, 3);
  EXPECT_DOUBLE_EQ(traffic.weight_bytes, 20.0);
  EXPECT_DOUBLE_EQ(traffic.logits_bytes, 3 * 4 * 2);
}

TEST(RooflineTest, NonGatedExpertsHaveOneUpMatrix) {
  MoeConfig moe = tiny_config();
  moe.activation = Activation::kReLU2;
  const std::vector<int32_t> ids = {2, 3};
  const Traffic traffic = layer_traffic(moe, ids.data(), 1, 0.0, 4.0);
  EXPECT_DOUBLE_EQ(traffic.flops, 2.0 * 2 * (2 * 4 + 4 * 2));  // N1 = I = 2
}

TEST(RooflineTest, H100ReferenceCeilings) {
  const Ceilings ceilings = h100_reference_ceilings();
  EXPECT_EQ(ceilings.name, "H100 reference ceilings");
  EXPECT_DOUBLE_EQ(ceilings.read_bytes_per_second, 3.10e12);
  EXPECT_DOUBLE_EQ(ceilings.bf16_flops_per_second, 790e12);
  EXPECT_DOUBLE_EQ(ceilings.fp8_flops_per_second, 1450e12);
}

// DeepSeek-V3 fp8 at M=1 (pain_points.md §1.1): 8 experts x 44.0 MB at 3.10 TB/s = 114 us.
TEST(RooflineTest, DeepSeekDecodeMatchesTheBriefTable) {
  MoeConfig moe;
  moe.hidden_size = 7168;
  moe.intermediate_size = 2048;
  moe.num_experts = 256;
  moe.top_k = 8;
  const std::vector<int32_t> ids = {0, 1, 2, 3, 4, 5, 6, 7};
  const double fp8_bytes_per_expert = 3.0 * 7168 * 2048;
  const Floor floor = roofline_floor(layer_traffic(moe, ids.data(), 1, fp8_bytes_per_expert, 4.0),
                                     h100_reference_ceilings(), true);
  EXPECT_TRUE(floor.memory_bound());
  EXPECT_NEAR(floor.seconds() * 1e6, 114.0, 1.0);
}

}  // namespace
}  // namespace fusedmoe::tools
