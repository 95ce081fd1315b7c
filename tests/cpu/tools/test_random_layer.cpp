// Random layers: reproducible per seed and per expert, lazily committed, scaled like real layers,
// and decodable back to their fp32 masters within each format's quantization error.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/dequantize.h"
#include "common/layer_runner.h"
#include "common/presets.h"
#include "common/random_layer.h"
#include "common/random_stream.h"
#include "common/tool_error.h"
#include "common/weight_formats.h"

namespace fusedmoe::tools {
namespace {

LayerSpec small_spec(WeightFormat format, int32_t ep = 1, int32_t ep_rank = 0) {
  LayerSpec spec;
  spec.model = "test";
  spec.moe.hidden_size = 256;
  spec.moe.intermediate_size = 128;
  spec.moe.num_experts = 8;
  spec.moe.top_k = 2;
  spec.moe.num_local_experts = 8 / ep;
  spec.moe.local_expert_offset = ep_rank * (8 / ep);
  spec.routing.method = RoutingMethod::kSoftmaxTopK;
  apply_weight_format(spec.moe, format);
  return spec;
}

// The bytes of one local expert's slice of a [E_l, ...] tensor.
std::vector<unsigned char> expert_bytes(const TensorView& view, int32_t local_expert) {
  const size_t bytes = static_cast<size_t>(view.strides[0]) * dtype_size(view.dtype);
  const auto* begin = static_cast<const unsigned char*>(view.data) + bytes * local_expert;
  return std::vector<unsigned char>(begin, begin + bytes);
}

std::vector<unsigned char> all_bytes(const TensorView& view) {
  const auto* begin = static_cast<const unsigned char*>(view.data);
  return std::vector<unsigned char>(begin, begin + view.numel() * dtype_size(view.dtype));
}

constexpr WeightFormat kAllFormats[] = {WeightFormat::kBF16, WeightFormat::kFP8PerTensor,
                                        WeightFormat::kFP8Block128, WeightFormat::kMXFP4,
                                        WeightFormat::kNVFP4};

TEST(RandomLayerTest, SameSeedSameLayer) {
  for (WeightFormat format : kAllFormats) {
    SCOPED_TRACE(weight_format_name(format));
    RandomLayer first(small_spec(format), 3, 42);
    RandomLayer second(small_spec(format), 3, 42);
    first.generate_all_experts();
    second.generate_all_experts();
    EXPECT_EQ(all_bytes(first.hidden_states()), all_bytes(second.hidden_states()));
    EXPECT_EQ(all_bytes(first.routing_inputs().router_logits),
              all_bytes(second.routing_inputs().router_logits));
    EXPECT_EQ(all_bytes(first.weights().w13), all_bytes(second.weights().w13));
    EXPECT_EQ(all_bytes(first.weights().w2), all_bytes(second.weights().w2));
    if (first.weights().w13_scale.defined()) {
      EXPECT_EQ(all_bytes(first.weights().w13_scale), all_bytes(second.weights().w13_scale));
    }
  }
}

TEST(RandomLayerTest, DifferentSeedsDiffer) {
  RandomLayer first(small_spec(WeightFormat::kBF16), 3, 1);
  RandomLayer second(small_spec(WeightFormat::kBF16), 3, 2);
  first.generate_expert(0);
  second.generate_expert(0);
  EXPECT_NE(all_bytes(first.hidden_states()), all_bytes(second.hidden_states()));
  EXPECT_NE(expert_bytes(first.weights().w13, 0), expert_bytes(second.weights().w13, 0));
}

TEST(RandomLayerTest, AnExpertGeneratedAloneMatchesTheFullLayer) {
  RandomLayer full(small_spec(WeightFormat::kNVFP4), 2, 7);
  full.generate_all_experts();
  RandomLayer single(small_spec(WeightFormat::kNVFP4), 2, 7);
  single.generate_expert(5);
  EXPECT_EQ(single.generated_expert_count(), 1);
  EXPECT_TRUE(single.expert_generated(5));
  EXPECT_FALSE(single.expert_generated(4));
  EXPECT_EQ(expert_bytes(single.weights().w13, 5), expert_bytes(full.weights().w13, 5));
  EXPECT_EQ(expert_bytes(single.weights().w2, 5), expert_bytes(full.weights().w2, 5));
  EXPECT_EQ(expert_bytes(single.weights().w13_scale, 5), expert_bytes(full.weights().w13_scale, 5));
  EXPECT_EQ(expert_bytes(single.weights().w13_global_scale, 5),
            expert_bytes(full.weights().w13_global_scale, 5));
  // Experts never generated stay zero.
  const std::vector<unsigned char> untouched = expert_bytes(single.weights().w13, 4);
  EXPECT_EQ(untouched, std::vector<unsigned char>(untouched.size(), 0));
}

TEST(RandomLayerTest, ExpertParallelRanksHoldTheSameExperts) {
  RandomLayer whole(small_spec(WeightFormat::kFP8Block128), 2, 3);
  RandomLayer rank1(small_spec(WeightFormat::kFP8Block128, 2, 1), 2, 3);
  whole.generate_expert(6);
  rank1.generate_expert(6);  // local index 2 on rank 1
  EXPECT_EQ(expert_bytes(rank1.weights().w13, 2), expert_bytes(whole.weights().w13, 6));
  EXPECT_EQ(expert_bytes(rank1.weights().w2_scale, 2), expert_bytes(whole.weights().w2_scale, 6));
  EXPECT_EQ(all_bytes(rank1.routing_inputs().router_logits),
            all_bytes(whole.routing_inputs().router_logits));
  EXPECT_EQ(rank1.weights().w13.shape[0], 4);
  EXPECT_THROW(rank1.generate_expert(1), UsageError);
}

TEST(RandomLayerTest, ShapesFollowTheWeightsTable) {
  RandomLayer mx(small_spec(WeightFormat::kMXFP4), 1, 0);
  EXPECT_EQ(mx.weights().w13.dtype, DType::kFloat4E2M1x2);
  EXPECT_EQ(mx.weights().w13.shape[2], 128);  // H/2
  EXPECT_EQ(mx.weights().w13_scale.dtype, DType::kUE8M0);
  EXPECT_EQ(mx.weights().w13_scale.shape[2], 8);  // H/32
  EXPECT_EQ(mx.weights().w2_scale.shape[2], 4);   // I/32

  RandomLayer block(small_spec(WeightFormat::kFP8Block128), 1, 0);
  EXPECT_EQ(block.weights().w13_scale.shape[1], 2);  // 2I/128
  EXPECT_EQ(block.weights().w13_scale.shape[2], 2);  // H/128
  EXPECT_EQ(block.moe().activation_quant, ActivationQuant::kFP8Group128);

  RandomLayer fp8(small_spec(WeightFormat::kFP8PerTensor), 1, 0);
  EXPECT_EQ(fp8.weights().w13_scale.ndim, 1);
  EXPECT_TRUE(fp8.weights().a1_scale.defined());
  EXPECT_GT(fp8.input_scale(), 0.0f);
  EXPECT_TRUE(std::isnan(static_cast<const float*>(fp8.weights().a2_scale.data)[0]));
  fp8.set_intermediate_scale(0.25f);
  EXPECT_EQ(static_cast<const float*>(fp8.weights().a2_scale.data)[0], 0.25f);

  RandomLayer bf16(small_spec(WeightFormat::kBF16), 1, 0);
  EXPECT_FALSE(bf16.weights().w13_scale.defined());
  EXPECT_FALSE(bf16.weights().a1_scale.defined());
  EXPECT_DOUBLE_EQ(bf16.weight_bytes_per_expert(), 2.0 * (256 * 256 + 256 * 128));
}

// Dequantized weights against the fp32 masters the layer was generated from.
TEST(RandomLayerTest, WeightsDecodeToTheirMastersWithinFormatError) {
  const std::map<WeightFormat, double> max_rel_l2 = {
      {WeightFormat::kBF16, 0.005}, {WeightFormat::kFP8PerTensor, 0.06},
      {WeightFormat::kFP8Block128, 0.06}, {WeightFormat::kMXFP4, 0.2}, {WeightFormat::kNVFP4, 0.15}};
  for (WeightFormat format : kAllFormats) {
    SCOPED_TRACE(weight_format_name(format));
    const uint64_t seed = 11;
    RandomLayer layer(small_spec(format), 1, seed);
    layer.generate_expert(3);
    std::vector<float> decoded;
    dequantize_expert(layer.moe(), layer.weights(), ExpertMatrix::kW13, 3, decoded);
    NormalStream master(seed, RandomTensor::kW13, 3);
    const float stddev = 1.0f / std::sqrt(256.0f);
    double diff = 0.0;
    double norm = 0.0;
    double sum_sq = 0.0;
    for (float value : decoded) {
      const double expected = master.normal() * stddev;
      diff += (value - expected) * (value - expected);
      norm += expected * expected;
      sum_sq += static_cast<double>(value) * value;
    }
    EXPECT_LT(std::sqrt(diff / norm), max_rel_l2.at(format));
    // Scaled like a real layer: N(0, 1/K).
    EXPECT_NEAR(std::sqrt(sum_sq / decoded.size()), stddev, 0.1 * stddev);
  }
}

TEST(RandomLayerTest, HiddenStatesAreUnitNormalAndLogitsAreSkewed) {
  LayerSpec spec = small_spec(WeightFormat::kBF16);
  spec.moe.num_experts = 64;
  spec.moe.num_local_experts = 64;
  spec.moe.top_k = 4;
  RandomLayer layer(spec, 256, 5);
  const TensorView hidden = layer.hidden_states();
  double sum_sq = 0.0;
  for (int64_t i = 0; i < hidden.numel(); ++i) {
    uint16_t bits;
    std::memcpy(&bits, static_cast<const char*>(hidden.data) + 2 * i, 2);
    uint32_t wide = static_cast<uint32_t>(bits) << 16;
    float value;
    std::memcpy(&value, &wide, 4);
    sum_sq += value * value;
  }
  EXPECT_NEAR(std::sqrt(sum_sq / hidden.numel()), 1.0, 0.02);

  // A skewed router: the busiest expert gets well over its fair share of the 256 x 4 slots.
  const TensorView logits = layer.routing_inputs().router_logits;
  std::vector<int> counts(64, 0);
  for (int64_t t = 0; t < 256; ++t) {
    std::vector<std::pair<float, int>> row;
    for (int e = 0; e < 64; ++e) row.emplace_back(static_cast<const float*>(logits.data)[t * 64 + e], e);
    std::partial_sort(row.begin(), row.begin() + 4, row.end(), std::greater<>());
    for (int k = 0; k < 4; ++k) ++counts[row[k].second];
  }
  const double fair_share = 256.0 * 4 / 64;
  EXPECT_GT(*std::max_element(counts.begin(), counts.end()), 3 * fair_share);
}

TEST(RandomLayerTest, BiasesOnlyWhereTheModelHasThem) {
  const LayerSpec gpt_oss = [] {
    LayerSpec spec = slice_preset(find_preset("gpt-oss-120b"), {2, 4, 1});
    apply_weight_format(spec.moe, WeightFormat::kMXFP4);
    return spec;
  }();
  RandomLayer layer(gpt_oss, 1, 0);
  EXPECT_TRUE(layer.routing_inputs().logits_bias.defined());
  EXPECT_FALSE(layer.routing_inputs().correction_bias.defined());
  EXPECT_TRUE(layer.weights().w13_bias.defined());
  EXPECT_EQ(layer.weights().w13_bias.shape[1], 2 * 1440);

  LayerSpec deepseek = slice_preset(find_preset("deepseek-v3"), {8, 8, 0});
  apply_weight_format(deepseek.moe, WeightFormat::kFP8Block128);
  RandomLayer ds(deepseek, 1, 0);
  EXPECT_TRUE(ds.routing_inputs().correction_bias.defined());
  EXPECT_FALSE(ds.routing_inputs().logits_bias.defined());
  EXPECT_FALSE(ds.weights().w13_bias.defined());
}

long resident_kilobytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stol(line.substr(6));
  }
  return -1;
}

// DeepSeek-V3 in bf16 is 22 GB of expert weights: the layer must cost only what is generated.
TEST(RandomLayerTest, BigLayersCommitOnlyGeneratedExperts) {
  LayerSpec spec = slice_preset(find_preset("deepseek-v3"), {});
  apply_weight_format(spec.moe, WeightFormat::kBF16);
  const long before = resident_kilobytes();
  RandomLayer layer(spec, 1, 0);
  EXPECT_GT(layer.weights().w13.numel() * 2, 15'000'000'000);
  const long after_allocation = resident_kilobytes();
  EXPECT_LT(after_allocation - before, 64 * 1024) << "allocating committed memory";
  layer.generate_expert(200);
  const long after_one_expert = resident_kilobytes();
  // One bf16 expert is 88 MB, plus the fp32 master scratch (117 MB).
  EXPECT_LT(after_one_expert - before, 256 * 1024);
  EXPECT_EQ(layer.generated_expert_count(), 1);
}

TEST(RandomLayerTest, LocalExpertsHitCountsDistinctLocalIds) {
  const MoeConfig moe = small_spec(WeightFormat::kBF16, 2, 1).moe;  // experts [4, 8)
  const std::vector<int32_t> ids = {5, 1, 5, -1, 7, 4, 9, 4};
  EXPECT_EQ(local_experts_hit(moe, ids), (std::vector<int32_t>{4, 5, 7}));
}

}  // namespace
}  // namespace fusedmoe::tools
