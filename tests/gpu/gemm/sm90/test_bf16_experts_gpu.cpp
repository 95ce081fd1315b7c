// BF16 expert compute on sm_90a (src/gemm/sm90) against the CPU reference through the fused and
// routed entry points (bf16_gpu_layer.h): every preset shape on both kernel families, every forced
// tactic, and the two families against each other at prefill sizes.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include "gemm/sm90/grouped_gemm_bf16.h"

#include "gpu/gemm/sm90/bf16_gpu_layer.h"
#include "support/gpu_skip.h"

namespace fusedmoe::testing {
namespace {

// Every case runs on both expert kernel families, forced: weight streaming (with the token
// tile the heuristic picks for the case, so M = 257 walks several token tiles per expert) and
// the grouped tile GEMM.
class Bf16ExpertsGpu : public ::testing::TestWithParam<std::tuple<LayerCase, ExpertKernel>> {};

std::string preset_case_name(const ::testing::TestParamInfo<std::tuple<LayerCase, ExpertKernel>>& info) {
  std::string name = case_name(std::get<0>(info.param)) + "_" + kernel_label(std::get<1>(info.param));
  for (char& c : name) {
    if (c == '-' || c == '.') c = '_';
  }
  return name;
}

TEST_P(Bf16ExpertsGpu, FusedMatchesReferenceAndRoutedIsBitwiseFused) {
  FUSEDMOE_REQUIRE_SM90();
  const LayerCase layer_case = std::get<0>(GetParam());
  const ExpertKernel kernel = std::get<1>(GetParam());
  RandomLayer layer(bf16_spec(layer_case), layer_case.tokens,
                    testing::case_seed(case_name(layer_case)));
  layer.generate_all_experts();
  GpuLayer gpu(layer, layer_case.tokens, kernel);

  const tools::RoutedIds decisions = gpu.route();
  const std::vector<double> fused = gpu.fused();
  const std::vector<double> routed = gpu.routed();
  const std::vector<double> expected = tools::routed_on_cpu(layer, decisions).output;

  expect_close_to_reference(fused, expected,
                            case_name(layer_case) + " " + kernel_label(kernel) + " moe_fused vs reference");
  ASSERT_EQ(fused.size(), routed.size());
  EXPECT_EQ(std::memcmp(fused.data(), routed.data(), fused.size() * sizeof(double)), 0)
      << "moe_routed fed moe_route's ids and weights differs from moe_fused";
  const std::vector<double> again = gpu.fused();
  EXPECT_EQ(std::memcmp(fused.data(), again.data(), fused.size() * sizeof(double)), 0)
      << "moe_fused is not bitwise reproducible run to run";
}

INSTANTIATE_TEST_SUITE_P(
    PresetShapes, Bf16ExpertsGpu,
    ::testing::Combine(::testing::Values(LayerCase{"qwen3-30b-a3b", 1, 32, 1}, LayerCase{"qwen3-30b-a3b", 1, 32, 7},
                      LayerCase{"qwen3-30b-a3b", 1, 32, 64}, LayerCase{"qwen3-30b-a3b", 1, 32, 257},
                      LayerCase{"deepseek-v3", 8, 32, 1}, LayerCase{"deepseek-v3", 8, 32, 64},
                      LayerCase{"deepseek-v3", 8, 32, 257}, LayerCase{"deepseek-v3", 1, 16, 7},
                      LayerCase{"qwen3-235b-a22b", 8, 16, 64}, LayerCase{"mixtral-8x7b", 4, 0, 3},
                      LayerCase{"mixtral-8x7b", 4, 0, 64}, LayerCase{"minimax-m2", 1, 16, 64},
                      LayerCase{"nemotron-3-nano", 1, 16, 5}, LayerCase{"nemotron-3-nano", 1, 16, 64},
                      LayerCase{"llama-4-scout", 8, 0, 4}, LayerCase{"llama-4-scout", 8, 0, 100},
                      LayerCase{"glm-4.5-air", 8, 16, 33},
                      // Checkpoint w13 orders other than the preset's.
                      LayerCase{"qwen3-30b-a3b", 1, 16, 7, 0, 0, static_cast<int32_t>(GateUpLayout::kUpThenGate)},
                      LayerCase{"qwen3-30b-a3b", 1, 16, 33, 0, 0, static_cast<int32_t>(GateUpLayout::kInterleaved)},
                      // Sizes that fit no tile: gpt-oss H = 2880, I = 232 and 192 (not multiples
                      // of the 32/64-column streaming tiles nor the 128-column grouped tiles).
                      LayerCase{"qwen3-30b-a3b", 1, 16, 19, 2880, 232},
                      LayerCase{"qwen3-30b-a3b", 1, 16, 64, 2880, 192},
                      LayerCase{"nemotron-3-nano", 1, 16, 9, 2880, 232},
                      // Non-gated with K >= 3072: ReLU² in the 64x256 tile's epilogue.
                      LayerCase{"nemotron-3-nano", 1, 16, 64, 3072, 256}),
                      ::testing::Values(ExpertKernel::kWeightStreaming, ExpertKernel::kGroupedTile)),
    preset_case_name);

// The rest of the matrix M in {1, 7, 64, 257} for every preset the list above leaves short
// (M = 4096 is StreamingAndGroupedTileAgreeAtPrefillSizes below: too slow for the reference), on
// TP slices where the full expert would make the reference slow: I = 1792 (Mixtral / 8), 384
// (MiniMax-M2 / 4), 928 (Nemotron / 2), 176 (GLM-4.5-Air / 8, a size no tile divides).
INSTANTIATE_TEST_SUITE_P(
    PresetMatrix, Bf16ExpertsGpu,
    ::testing::Combine(::testing::Values(LayerCase{"deepseek-v3", 8, 32, 7}, LayerCase{"qwen3-235b-a22b", 8, 16, 1},
                                         LayerCase{"qwen3-235b-a22b", 8, 16, 7}, LayerCase{"qwen3-235b-a22b", 8, 16, 257},
                                         LayerCase{"mixtral-8x7b", 8, 0, 1}, LayerCase{"mixtral-8x7b", 8, 0, 7},
                                         LayerCase{"mixtral-8x7b", 8, 0, 257}, LayerCase{"minimax-m2", 4, 32, 1},
                                         LayerCase{"minimax-m2", 4, 32, 7}, LayerCase{"minimax-m2", 4, 32, 257},
                                         LayerCase{"nemotron-3-nano", 2, 16, 1}, LayerCase{"nemotron-3-nano", 2, 16, 257},
                                         LayerCase{"llama-4-scout", 8, 0, 1}, LayerCase{"llama-4-scout", 8, 0, 7},
                                         LayerCase{"llama-4-scout", 8, 0, 257}, LayerCase{"glm-4.5-air", 8, 16, 1},
                                         LayerCase{"glm-4.5-air", 8, 16, 7}, LayerCase{"glm-4.5-air", 8, 16, 64},
                                         LayerCase{"glm-4.5-air", 8, 16, 257}),
                       ::testing::Values(ExpertKernel::kWeightStreaming, ExpertKernel::kGroupedTile)),
    preset_case_name);

// Every forced tactic (grouped tiles 64x128, 128x128, 256x128, 128x256, 64x256; streaming token
// tiles 8..64) against the reference: the heuristic alone would leave some of them untested at these sizes.
TEST(Bf16ExpertsGpuTactics, EveryForcedTacticMatchesReference) {
  FUSEDMOE_REQUIRE_SM90();
  for (const LayerCase& layer_case : {LayerCase{"qwen3-30b-a3b", 1, 16, 75}, LayerCase{"deepseek-v3", 8, 16, 9}}) {
    RandomLayer layer(bf16_spec(layer_case), layer_case.tokens, testing::case_seed(case_name(layer_case)));
    layer.generate_all_experts();
    for (const ExpertKernel kernel : {ExpertKernel::kGroupedTile, ExpertKernel::kWeightStreaming}) {
      const int32_t tactics = kernel == ExpertKernel::kGroupedTile ? sm90::kGroupedTileCount : 4;
      for (int32_t tactic = 0; tactic < tactics; ++tactic) {
        GpuLayer gpu(layer, layer_case.tokens, kernel, tactic);
        const tools::RoutedIds decisions = gpu.route();
        expect_close_to_reference(gpu.fused(), tools::routed_on_cpu(layer, decisions).output,
                                  case_name(layer_case) + " " + kernel_label(kernel) + " tactic " +
                                      std::to_string(tactic));
      }
    }
  }
}

// GEMM2 on a tile of its own (PlanOptions::gemm2_tactic): GEMM1 on the 128x256 tile (its rows by
// index and by copy) and on 64x256, GEMM2 on each tile, against the reference.
TEST(Bf16ExpertsGpuTactics, Gemm2OnATileOfItsOwnMatchesReference) {
  FUSEDMOE_REQUIRE_SM90();
  for (const LayerCase& layer_case : {LayerCase{"qwen3-30b-a3b", 1, 16, 75}, LayerCase{"deepseek-v3", 8, 16, 9}}) {
    RandomLayer layer(bf16_spec(layer_case), layer_case.tokens, testing::case_seed(case_name(layer_case)));
    layer.generate_all_experts();
    for (const int32_t gemm1_tactic : {3, 4}) {
      for (int32_t gemm2_tactic = 0; gemm2_tactic < sm90::kGroupedTileCount; ++gemm2_tactic) {
        if (gemm2_tactic == gemm1_tactic) continue;
        for (const TokenGather gather : {TokenGather::kIndex, TokenGather::kCopy}) {
          GpuLayer gpu(layer, layer_case.tokens, ExpertKernel::kGroupedTile, gemm1_tactic, gather, gemm2_tactic);
          const tools::RoutedIds decisions = gpu.route();
          expect_close_to_reference(gpu.fused(), tools::routed_on_cpu(layer, decisions).output,
                                    case_name(layer_case) + " tactic " + std::to_string(gemm1_tactic) +
                                        " gemm2 tactic " + std::to_string(gemm2_tactic) + " " +
                                        token_gather_name(gather));
        }
      }
    }
  }
}

// At prefill sizes (M = 4096, too slow for the single-threaded reference) the two kernel
// families check each other: independent tilings, the same rounding steps, so they agree to the
// same-rounding bound; the weight-streaming side walks many token tiles per expert here.
TEST(Bf16ExpertsGpuFamilies, StreamingAndGroupedTileAgreeAtPrefillSizes) {
  FUSEDMOE_REQUIRE_SM90();
  for (const LayerCase& layer_case : {LayerCase{"qwen3-30b-a3b", 1, 64, 4096},
                                      LayerCase{"deepseek-v3", 8, 32, 4096}}) {
    RandomLayer layer(bf16_spec(layer_case), layer_case.tokens, testing::case_seed(case_name(layer_case)));
    layer.generate_all_experts();
    GpuLayer streaming(layer, layer_case.tokens, ExpertKernel::kWeightStreaming);
    GpuLayer grouped(layer, layer_case.tokens, ExpertKernel::kGroupedTile);
    const std::vector<double> a = streaming.fused();
    const std::vector<double> b = grouped.fused();
    expect_close_to_reference(a, b, case_name(layer_case) + " weight streaming vs grouped tile");
  }
}

}  // namespace
}  // namespace fusedmoe::testing
