// Row orders of a gated BF16 w13 (src/prepare/bf16_w13_rows.h) and the scratch prepare_weights
// asks for: host logic, checked without a GPU.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "fusedmoe/moe.h"
#include "prepare/bf16_w13_rows.h"

namespace fusedmoe::sm90 {
namespace {

constexpr GateUpRows kAllRows[] = {GateUpRows::kGateThenUp, GateUpRows::kUpThenGate,
                                   GateUpRows::kInterleaved, GateUpRows::kBlocked};

MoeConfig bf16_moe(int32_t intermediate_size, Activation activation = Activation::kSwiGLU) {
  MoeConfig moe;
  moe.hidden_size = 7168;
  moe.intermediate_size = intermediate_size;
  moe.num_experts = 256;
  moe.top_k = 8;
  moe.activation = activation;
  moe.weight_format = WeightFormat::kBF16;
  return moe;
}

TEST(Bf16W13Rows, EveryOrderMapsGateAndUpOntoEachRowExactlyOnce) {
  for (const int64_t inter : {128, 256, 2048}) {
    for (const GateUpRows rows : kAllRows) {
      std::vector<int> hits(static_cast<size_t>(2 * inter), 0);
      for (int64_t f = 0; f < inter; ++f) {
        for (const int64_t row : {gate_row(rows, inter, f), up_row(rows, inter, f)}) {
          ASSERT_GE(row, 0) << "order " << static_cast<int>(rows) << ", I " << inter << ", f " << f;
          ASSERT_LT(row, 2 * inter) << "order " << static_cast<int>(rows) << ", I " << inter;
          ++hits[static_cast<size_t>(row)];
        }
      }
      for (int64_t row = 0; row < 2 * inter; ++row) {
        EXPECT_EQ(hits[static_cast<size_t>(row)], 1)
            << "order " << static_cast<int>(rows) << ", I " << inter << ", row " << row;
      }
    }
  }
}

TEST(Bf16W13Rows, CheckpointOrdersAreBijectionsForSizesOfNoBlock) {
  for (const int64_t inter : {232, 192, 2880}) {
    for (const GateUpRows rows :
         {GateUpRows::kGateThenUp, GateUpRows::kUpThenGate, GateUpRows::kInterleaved}) {
      std::vector<int> hits(static_cast<size_t>(2 * inter), 0);
      for (int64_t f = 0; f < inter; ++f) {
        ++hits[static_cast<size_t>(gate_row(rows, inter, f))];
        ++hits[static_cast<size_t>(up_row(rows, inter, f))];
      }
      for (const int count : hits) EXPECT_EQ(count, 1) << "order " << static_cast<int>(rows) << ", I " << inter;
    }
  }
}

TEST(Bf16W13Rows, BlockedOrderPutsUpExactly128RowsAfterItsGateInTheSame256RowBlock) {
  const int64_t inter = 2048;
  for (int64_t f = 0; f < inter; ++f) {
    const int64_t gate = gate_row(GateUpRows::kBlocked, inter, f);
    const int64_t up = up_row(GateUpRows::kBlocked, inter, f);
    EXPECT_EQ(up - gate, kGateUpBlock) << "feature " << f;
    EXPECT_EQ(gate / (2 * kGateUpBlock), up / (2 * kGateUpBlock)) << "feature " << f;
    EXPECT_EQ(gate / (2 * kGateUpBlock), f / kGateUpBlock) << "feature " << f;
    EXPECT_LT(gate % (2 * kGateUpBlock), kGateUpBlock) << "feature " << f;
  }
  // Spelled out: block 1 starts at row 256 with the gate of feature 128.
  EXPECT_EQ(gate_row(GateUpRows::kBlocked, inter, 128), 256);
  EXPECT_EQ(up_row(GateUpRows::kBlocked, inter, 128), 384);
  EXPECT_EQ(up_row(GateUpRows::kBlocked, inter, 127), 255);
}

TEST(Bf16W13Rows, W13IsBlockedForGatedIntermediateSizesThatAreMultiplesOf128) {
  for (const Activation gated : {Activation::kSwiGLU, Activation::kSwiGLUOAI, Activation::kGeGLUTanh}) {
    for (const int32_t inter : {2048, 768, 256, 14336}) {
      const MoeConfig moe = bf16_moe(inter, gated);
      EXPECT_TRUE(bf16_w13_blocked(moe)) << "I " << inter;
      EXPECT_EQ(prepared_gate_up_rows(moe), GateUpRows::kBlocked) << "I " << inter;
    }
    for (const int32_t inter : {232, 192, 2880}) {
      MoeConfig moe = bf16_moe(inter, gated);
      EXPECT_FALSE(bf16_w13_blocked(moe)) << "I " << inter;
      EXPECT_EQ(prepared_gate_up_rows(moe), GateUpRows::kGateThenUp) << "I " << inter;
      moe.gate_up_layout = GateUpLayout::kUpThenGate;
      EXPECT_EQ(prepared_gate_up_rows(moe), GateUpRows::kUpThenGate) << "I " << inter;
      moe.gate_up_layout = GateUpLayout::kInterleaved;
      EXPECT_EQ(prepared_gate_up_rows(moe), GateUpRows::kInterleaved) << "I " << inter;
    }
  }
  for (const Activation single : {Activation::kReLU2, Activation::kSiLU, Activation::kGeLUTanh}) {
    for (const int32_t inter : {2048, 256, 232}) {
      EXPECT_FALSE(bf16_w13_blocked(bf16_moe(inter, single))) << "I " << inter;
    }
  }
}

TEST(Bf16W13Rows, PrepareScratchIsOneExpertsW13WhenBlockedElseZero) {
  for (const int32_t inter : {2048, 768, 256, 14336}) {
    const MoeConfig moe = bf16_moe(inter);
    const size_t one_expert = static_cast<size_t>(2) * inter * moe.hidden_size * 2;
    EXPECT_EQ(prepare_scratch_bytes(moe, Backend::kCudaSm90), one_expert) << "I " << inter;
    EXPECT_EQ(prepare_scratch_bytes(moe, Backend::kCpuReference), 0u) << "I " << inter;
  }
  for (const int32_t inter : {232, 192, 2880}) {
    EXPECT_EQ(prepare_scratch_bytes(bf16_moe(inter), Backend::kCudaSm90), 0u) << "I " << inter;
  }
  EXPECT_EQ(prepare_scratch_bytes(bf16_moe(2048, Activation::kReLU2), Backend::kCudaSm90), 0u);
}

TEST(Bf16W13Rows, DeepSeekV3PrepareScratchIs58720256Bytes) {
  // I = 2048, H = 7168: 2 * 2048 * 7168 bf16 rows, whatever the 256 experts.
  EXPECT_EQ(prepare_scratch_bytes(bf16_moe(2048), Backend::kCudaSm90), 58720256u);
}

}  // namespace
}  // namespace fusedmoe::sm90
