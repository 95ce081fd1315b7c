// prepare_weights on sm_90a (src/prepare/sm90_prepare_bf16.cu through the public entry point):
// a gated BF16 w13 with I % 128 == 0 is reordered in place from each checkpoint GateUpLayout into
// the blocked row order (block b: gate rows of features [128b, 128b + 128), then their up rows),
// its w13_bias with it, bitwise; the scratch it touches is exactly prepare_scratch_bytes; other
// sizes keep the checkpoint bytes. The expected order is spelled out here, independently of
// src/prepare/bf16_w13_rows.h.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "fusedmoe/moe.h"
#include "gpu/gpu_test_common.h"
#include "support/device_buffer.h"
#include "support/gpu_skip.h"

namespace fusedmoe {
namespace {

using testing::cuda_or_throw;
using testing::DeviceBuffer;

constexpr int64_t kExperts = 3;
constexpr int64_t kHidden = 136;  // 17 16-byte chunks per row: not a power of two

MoeConfig gated_moe(int32_t intermediate_size, GateUpLayout layout) {
  MoeConfig moe;
  moe.hidden_size = static_cast<int32_t>(kHidden);
  moe.intermediate_size = intermediate_size;
  moe.num_experts = static_cast<int32_t>(kExperts);
  moe.top_k = 1;
  moe.activation = Activation::kSwiGLU;
  moe.gate_up_layout = layout;
  moe.weight_format = WeightFormat::kBF16;
  return moe;
}

// Checkpoint row of the gate (or up) of feature f.
int64_t checkpoint_row(GateUpLayout layout, int64_t inter, int64_t f, bool up) {
  switch (layout) {
    case GateUpLayout::kUpThenGate: return up ? f : inter + f;
    case GateUpLayout::kInterleaved: return 2 * f + (up ? 1 : 0);
    default: return up ? inter + f : f;
  }
}

// Checkpoint row that lands in blocked row `row`: row 256b + j holds the gate of feature 128b + j
// for j < 128, else the up of feature 128b + j - 128.
int64_t blocked_source_row(GateUpLayout layout, int64_t inter, int64_t row) {
  const int64_t block = row / 256, within = row % 256;
  return checkpoint_row(layout, inter, block * 128 + within % 128, within >= 128);
}

// Host reorder of [experts, 2I, width] elements of `element_bytes` bytes into blocked order.
std::vector<uint8_t> blocked_on_host(const std::vector<uint8_t>& checkpoint, GateUpLayout layout,
                                     int64_t inter, int64_t width, int64_t element_bytes) {
  std::vector<uint8_t> blocked(checkpoint.size());
  const int64_t row_bytes = width * element_bytes;
  for (int64_t e = 0; e < kExperts; ++e) {
    for (int64_t row = 0; row < 2 * inter; ++row) {
      const int64_t source = blocked_source_row(layout, inter, row);
      std::copy_n(checkpoint.begin() + (e * 2 * inter + source) * row_bytes, row_bytes,
                  blocked.begin() + (e * 2 * inter + row) * row_bytes);
    }
  }
  return blocked;
}

struct DeviceWeights {
  DeviceBuffer w13, w2, bias;
  ExpertWeights weights;
};

DeviceWeights upload(const MoeConfig& moe, const std::vector<uint8_t>& w13,
                     const std::vector<uint8_t>& bias, DType bias_dtype) {
  const int64_t inter = moe.intermediate_size;
  DeviceWeights device{DeviceBuffer(w13.size()),
                       DeviceBuffer(static_cast<size_t>(kExperts * kHidden * inter) * 2),
                       DeviceBuffer(bias.size()), ExpertWeights{}};
  device.w13.upload(w13);
  device.w2.poison(0);
  device.weights.w13 = device.w13.view(DType::kBFloat16, {kExperts, 2 * inter, kHidden});
  device.weights.w2 = device.w2.view(DType::kBFloat16, {kExperts, kHidden, inter});
  if (!bias.empty()) {
    device.bias.upload(bias);
    device.weights.w13_bias = device.bias.view(bias_dtype, {kExperts, 2 * inter});
  }
  return device;
}

std::string layout_label(GateUpLayout layout) {
  switch (layout) {
    case GateUpLayout::kUpThenGate: return "up-then-gate";
    case GateUpLayout::kInterleaved: return "interleaved";
    default: return "gate-then-up";
  }
}

TEST(PrepareBf16Gpu, ReordersGatedW13AndItsBiasIntoBlockedOrderBitwise) {
  FUSEDMOE_REQUIRE_SM90();
  const int64_t inter = 256;
  std::mt19937_64 rng(testing::case_seed("prepare_bf16_blocked"));
  for (const GateUpLayout layout :
       {GateUpLayout::kGateThenUp, GateUpLayout::kUpThenGate, GateUpLayout::kInterleaved}) {
    for (const DType bias_dtype : {DType::kFloat32, DType::kBFloat16}) {
      const std::string label = layout_label(layout) + ", bias " + (bias_dtype == DType::kFloat32 ? "fp32" : "bf16");
      const MoeConfig moe = gated_moe(static_cast<int32_t>(inter), layout);
      const std::vector<uint8_t> w13 = testing::encode_floats(
          testing::random_normal(rng, static_cast<size_t>(kExperts * 2 * inter * kHidden), 1.0f), DType::kBFloat16);
      const std::vector<uint8_t> bias = testing::encode_floats(
          testing::random_normal(rng, static_cast<size_t>(kExperts * 2 * inter), 1.0f), bias_dtype);
      DeviceWeights device = upload(moe, w13, bias, bias_dtype);

      // The scratch handed over is exactly prepare_scratch_bytes, inside a larger poisoned buffer
      // whose tail must stay as it was.
      const size_t scratch_bytes = prepare_scratch_bytes(moe, Backend::kCudaSm90);
      ASSERT_EQ(scratch_bytes, static_cast<size_t>(2 * inter * kHidden * 2)) << label;
      const size_t guard_bytes = 4096;
      DeviceBuffer scratch(scratch_bytes + guard_bytes);
      scratch.poison(0xab);
      cuda_or_throw(cudaDeviceSynchronize(), "poison");
      prepare_weights(moe, Backend::kCudaSm90, device.weights, Workspace{scratch.data(), scratch_bytes}, nullptr);
      cuda_or_throw(cudaDeviceSynchronize(), "prepare_weights");
      EXPECT_EQ(device.weights.layout, WeightLayout::kSm90Prepared) << label;

      const int64_t bias_bytes = bias_dtype == DType::kFloat32 ? 4 : 2;
      EXPECT_TRUE(device.w13.download_all<uint8_t>() == blocked_on_host(w13, layout, inter, kHidden, 2))
          << label << ": w13 differs from the host reorder";
      EXPECT_TRUE(device.bias.download_all<uint8_t>() == blocked_on_host(bias, layout, inter, 1, bias_bytes))
          << label << ": w13_bias differs from the host reorder";
      const std::vector<uint8_t> whole = scratch.download_all<uint8_t>();
      for (size_t i = scratch_bytes; i < whole.size(); ++i) {
        ASSERT_EQ(whole[i], 0xab) << label << ": scratch byte " << i << " past prepare_scratch_bytes written";
      }
    }
  }
}

TEST(PrepareBf16Gpu, RejectsScratchSmallerThanPrepareScratchBytes) {
  FUSEDMOE_REQUIRE_SM90();
  const MoeConfig moe = gated_moe(256, GateUpLayout::kGateThenUp);
  const std::vector<uint8_t> w13(static_cast<size_t>(kExperts * 2 * 256 * kHidden) * 2, 0);
  DeviceWeights device = upload(moe, w13, {}, DType::kFloat32);
  const size_t scratch_bytes = prepare_scratch_bytes(moe, Backend::kCudaSm90);
  DeviceBuffer scratch(scratch_bytes);
  EXPECT_THROW(prepare_weights(moe, Backend::kCudaSm90, device.weights,
                               Workspace{scratch.data(), scratch_bytes - 16}, nullptr),
               Error);
  EXPECT_EQ(device.weights.layout, WeightLayout::kCheckpoint);
}

TEST(PrepareBf16Gpu, KeepsTheCheckpointBytesWhenIntermediateIsNotAMultipleOf128) {
  FUSEDMOE_REQUIRE_SM90();
  const int64_t inter = 232;
  std::mt19937_64 rng(testing::case_seed("prepare_bf16_unblocked"));
  const MoeConfig moe = gated_moe(static_cast<int32_t>(inter), GateUpLayout::kInterleaved);
  ASSERT_EQ(prepare_scratch_bytes(moe, Backend::kCudaSm90), 0u);
  const std::vector<uint8_t> w13 = testing::encode_floats(
      testing::random_normal(rng, static_cast<size_t>(kExperts * 2 * inter * kHidden), 1.0f), DType::kBFloat16);
  const std::vector<uint8_t> bias = testing::encode_floats(
      testing::random_normal(rng, static_cast<size_t>(kExperts * 2 * inter), 1.0f), DType::kFloat32);
  DeviceWeights device = upload(moe, w13, bias, DType::kFloat32);
  prepare_weights(moe, Backend::kCudaSm90, device.weights, Workspace{}, nullptr);
  cuda_or_throw(cudaDeviceSynchronize(), "prepare_weights");
  EXPECT_EQ(device.weights.layout, WeightLayout::kSm90Prepared);
  EXPECT_TRUE(device.w13.download_all<uint8_t>() == w13) << "w13 changed";
  EXPECT_TRUE(device.bias.download_all<uint8_t>() == bias) << "w13_bias changed";
}

}  // namespace
}  // namespace fusedmoe
