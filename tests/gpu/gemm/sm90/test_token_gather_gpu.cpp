// Token rows read by index (TokenGather::kIndex: weight streaming, and the gathering GEMM1 of the
// 64x256 / 128x256 grouped tiles, src/gemm/sm90/sm90_gather_gemm1.cu) against dispatch's gathered
// copy (kCopy): bitwise equal, close to the reference, bitwise run to run.
#include <cuda_runtime_api.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "gemm/sm90/grouped_gemm_bf16.h"

#include "gpu/gemm/sm90/bf16_gpu_layer.h"
#include "support/gpu_skip.h"

namespace fusedmoe::testing {
namespace {

// A layer (an EP shard of it, hidden_states strided by extra_columns NaN columns when > 0) whose
// token rows an expert kernel reads by index (TokenGather::kIndex) or from dispatch's gathered copy
// (TokenGather::kCopy).
struct GatherCase {
  LayerCase layer;
  int32_t ep = 1;
  int64_t extra_columns = 0;
};

// The rows read by index must give bitwise the gathered copy's output (same loads, same
// arithmetic), match the reference, and repeat bitwise run to run.
void expect_rows_by_index_equal_the_copy(const GatherCase& gather_case, ExpertKernel kernel, int32_t tactic) {
  const LayerCase& layer_case = gather_case.layer;
  const std::string label = case_name(layer_case) + "_ep" + std::to_string(gather_case.ep) + "_stride+" +
                            std::to_string(gather_case.extra_columns) + " " + kernel_label(kernel) + " tactic " +
                            std::to_string(tactic);
  RandomLayer layer(bf16_spec(layer_case, gather_case.ep, gather_case.ep - 1), layer_case.tokens,
                    testing::case_seed(label));
  layer.generate_all_experts();
  GpuLayer by_index(layer, layer_case.tokens, kernel, tactic, TokenGather::kIndex);
  GpuLayer copied(layer, layer_case.tokens, kernel, tactic, TokenGather::kCopy);
  if (gather_case.extra_columns > 0) {
    by_index.use_strided_hidden(gather_case.extra_columns);
    copied.use_strided_hidden(gather_case.extra_columns);
  }
  const tools::RoutedIds decisions = by_index.route();
  const std::vector<double> indexed = by_index.fused();
  const std::vector<double> copy = copied.fused();
  expect_close_to_reference(indexed, tools::routed_on_cpu(layer, decisions).output,
                            label + " rows by index vs reference");
  ASSERT_EQ(indexed.size(), copy.size());
  EXPECT_EQ(std::memcmp(indexed.data(), copy.data(), indexed.size() * sizeof(double)), 0)
      << label << ": rows read by index differ from the gathered copy";
  const std::vector<double> again = by_index.fused();
  EXPECT_EQ(std::memcmp(indexed.data(), again.data(), indexed.size() * sizeof(double)), 0)
      << label << ": not bitwise reproducible run to run";
}

// Weight streaming: packed and strided hidden_states, several token tiles per expert, an EP
// shard (foreign ids).
TEST(Bf16ExpertsGpuTokenGather, RowsReadByIndexEqualTheGatheredCopyBitwise) {
  FUSEDMOE_REQUIRE_SM90();
  for (const GatherCase& gather_case :
       {GatherCase{LayerCase{"qwen3-30b-a3b", 1, 32, 1}}, GatherCase{LayerCase{"qwen3-30b-a3b", 1, 32, 257}, 1, 64},
        GatherCase{LayerCase{"deepseek-v3", 8, 32, 37}, 2}, GatherCase{LayerCase{"mixtral-8x7b", 4, 0, 9}, 1, 8},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 16, 19, 2880, 232}, 2, 8}}) {
    expect_rows_by_index_equal_the_copy(gather_case, ExpertKernel::kWeightStreaming, -1);
  }
}

// On the 128x256 and 64x256 grouped tiles, TokenGather::kIndex runs the GEMM1 that reads the token
// rows by index (gather_gemm1.h) whatever auto's rule says (so on any GPU), and TokenGather::kCopy
// CUTLASS's GEMM1 of the same tile on the gathered copy: same tile, same wgmma instructions, same
// K order. The cases cover the DeepSeek-V3 TP8 shard (blocked w13: activation in the epilogue) as
// an EP shard with strided hidden_states, rows that do not fill the tile, H not a multiple of the
// 64-wide K step (264), I = 232 (checkpoint-order w13: the product is stored and the activation
// kernel follows), a non-gated activation whose n is not a multiple of 256 (I = 248), experts
// without rows, a wide expert (Qwen3-30B-A3B, I = 768), and 600 rows per expert, so that every
// CTA of the persistent grid runs several tiles and the shared-memory ring wraps many times.
TEST(Bf16ExpertsGpuGatherGemm1, RowsReadByIndexEqualTheGatheredCopyBitwise) {
  FUSEDMOE_REQUIRE_SM90();
  for (const GatherCase& gather_case :
       {GatherCase{LayerCase{"deepseek-v3", 8, 32, 300}, 2, 64}, GatherCase{LayerCase{"qwen3-30b-a3b", 1, 32, 257, 0, 128}},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 16, 100, 264, 232}, 2, 8},
        GatherCase{LayerCase{"nemotron-3-nano", 1, 16, 150, 0, 248}},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 64, 9, 0, 256}, 1, 8},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 32, 200}},
        GatherCase{LayerCase{"qwen3-30b-a3b", 1, 16, 1200, 512, 256}}}) {
    for (const sm90::GroupedTile tile : {sm90::GroupedTile::k128x256, sm90::GroupedTile::k64x256}) {
      expect_rows_by_index_equal_the_copy(gather_case, ExpertKernel::kGroupedTile, static_cast<int32_t>(tile));
    }
  }
}

}  // namespace
}  // namespace fusedmoe::testing
