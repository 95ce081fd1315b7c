// The sm90 expert-kernel heuristic (ExpertKernel::kAuto, forced kernels and tactics): host logic,
// checked without a GPU. The thresholds come from the H100 and H200 sweeps in docs/PERF.md (the
// grouped tile depends on the GPU's peak bandwidth: both classes are checked).
#include <gtest/gtest.h>

#include "gemm/sm90/bf16_experts.h"
#include "gemm/sm90/grouped_gemm_bf16.h"

namespace fusedmoe::sm90 {
namespace {

const GroupedTileContext kH200{2048, PeakBandwidth::k4TBpsOrMore};

ExpertRows contiguous(int64_t rows, int32_t experts) {
  ExpertRows expert_rows;
  expert_rows.layout = GroupRows::kOffsets;
  expert_rows.num_experts = experts;
  expert_rows.max_rows = rows;
  return expert_rows;
}

ExpertRows masked(int64_t capacity, int32_t experts) {
  ExpertRows expert_rows;
  expert_rows.layout = GroupRows::kMasked;
  expert_rows.num_experts = experts;
  expert_rows.capacity = capacity;
  expert_rows.max_rows = capacity * experts;
  return expert_rows;
}

TEST(ExpertsPath, AutoStreamsWeightsAtDecodeWithATokenTileCoveringTheBusiestExpert) {
  // DeepSeek-V3 (E_l = 256, top-8): M = 1 -> 8 rows over 256 experts.
  ExpertsPath path = choose_experts_path(contiguous(8, 256), ExpertKernel::kAuto, -1, false, kH200);
  EXPECT_EQ(path.kernel, ExpertKernel::kWeightStreaming);
  EXPECT_EQ(path.token_tile, 8);
  // M = 256 -> 8 rows per expert on average: the 16-token tile (mean + 2 sigma = 14.7).
  path = choose_experts_path(contiguous(2048, 256), ExpertKernel::kAuto, -1, false, kH200);
  EXPECT_EQ(path.kernel, ExpertKernel::kWeightStreaming);
  EXPECT_EQ(path.token_tile, 16);
  // Qwen3 M = 256 (E_l = 128): 16 rows per expert, the last streaming case: 32-token tile.
  path = choose_experts_path(contiguous(2048, 128), ExpertKernel::kAuto, -1, false, kH200);
  EXPECT_EQ(path.kernel, ExpertKernel::kWeightStreaming);
  EXPECT_EQ(path.token_tile, 32);
}

TEST(ExpertsPath, AutoPicksTheGroupedTileByRowsPerExpert) {
  const struct {
    int64_t rows;
    int32_t experts;
    GroupedTile tile;
  } cases[] = {{8192, 256, GroupedTile::k64x256},     // 32 rows per expert
               {2048, 32, GroupedTile::k64x256},      // 64
               {32768, 256, GroupedTile::k64x256},    // 128
               {8192, 32, GroupedTile::k64x256},      // 256
               {131072, 256, GroupedTile::k128x256},  // 512
               {131072, 128, GroupedTile::k128x256}}; // 1024
  for (const auto& c : cases) {
    const ExpertsPath path = choose_experts_path(contiguous(c.rows, c.experts), ExpertKernel::kAuto, -1, false, kH200);
    EXPECT_EQ(path.kernel, ExpertKernel::kGroupedTile) << c.rows << " rows";
    EXPECT_EQ(path.grouped_tile, c.tile) << c.rows << " rows";
  }
}

TEST(ExpertsPath, OnAnH100The128x256TileTakesOverAt256RowsAndAt64ForNarrowExperts) {
  const struct {
    int64_t rows;
    int32_t experts;
    int64_t intermediate_size;
    GroupedTile tile;
  } cases[] = {{32768, 256, 2048, GroupedTile::k64x256},    // DeepSeek-V3 M = 4096: 128 rows
               {65536, 256, 2048, GroupedTile::k128x256},   // DeepSeek-V3 M = 8192: 256 rows
               {1024, 8, 14336, GroupedTile::k64x256},      // Mixtral M = 512: 128 rows
               {2048, 8, 14336, GroupedTile::k128x256},     // Mixtral M = 1024: 256 rows
               {12288, 256, 256, GroupedTile::k64x256},     // DeepSeek-V3 TP8 M = 1536: 48 rows
               {16384, 256, 256, GroupedTile::k128x256},    // DeepSeek-V3 TP8 M = 2048: 64 rows
               {32768, 256, 256, GroupedTile::k128x256}};   // DeepSeek-V3 TP8 M = 4096: 128 rows
  for (const auto& c : cases) {
    const GroupedTileContext h100{c.intermediate_size, PeakBandwidth::kBelow4TBps};
    const ExpertsPath path = choose_experts_path(contiguous(c.rows, c.experts), ExpertKernel::kAuto, -1, false, h100);
    EXPECT_EQ(path.kernel, ExpertKernel::kGroupedTile) << c.rows << " rows";
    EXPECT_EQ(path.grouped_tile, c.tile) << c.rows << " rows over " << c.experts << " experts, I = " << c.intermediate_size;
  }
}

TEST(ExpertsPath, MaskedLayoutJudgesByCapacity) {
  EXPECT_EQ(choose_experts_path(masked(16, 32), ExpertKernel::kAuto, -1, false, kH200).kernel,
            ExpertKernel::kWeightStreaming);
  EXPECT_EQ(choose_experts_path(masked(37, 8), ExpertKernel::kAuto, -1, false, kH200).kernel,
            ExpertKernel::kGroupedTile);
  // A forced streaming kernel on a masked slab never takes a tile larger than the capacity needs.
  EXPECT_EQ(choose_experts_path(masked(5, 8), ExpertKernel::kWeightStreaming, -1, false, kH200).token_tile, 8);
}

TEST(ExpertsPath, BiasesAlwaysTakeWeightStreamingUnderAuto) {
  const ExpertsPath path = choose_experts_path(contiguous(131072, 128), ExpertKernel::kAuto, -1, true, kH200);
  EXPECT_EQ(path.kernel, ExpertKernel::kWeightStreaming);
  EXPECT_EQ(path.token_tile, 64);
}

TEST(ExpertsPath, ForcedKernelAndTacticAreHonoured) {
  const ExpertRows rows = contiguous(8, 256);
  ExpertsPath path = choose_experts_path(rows, ExpertKernel::kGroupedTile, -1, false, kH200);
  EXPECT_EQ(path.kernel, ExpertKernel::kGroupedTile);
  EXPECT_EQ(path.grouped_tile, GroupedTile::k64x256);
  path = choose_experts_path(rows, ExpertKernel::kGroupedTile, 0, false, kH200);
  EXPECT_EQ(path.grouped_tile, GroupedTile::k64x128);
  path = choose_experts_path(rows, ExpertKernel::kGroupedTile, 3, false, kH200);
  EXPECT_EQ(path.grouped_tile, GroupedTile::k128x256);
  path = choose_experts_path(rows, ExpertKernel::kGroupedTile, 4, false, kH200);
  EXPECT_EQ(path.grouped_tile, GroupedTile::k64x256);
  path = choose_experts_path(contiguous(131072, 256), ExpertKernel::kWeightStreaming, 1, false, kH200);
  EXPECT_EQ(path.kernel, ExpertKernel::kWeightStreaming);
  EXPECT_EQ(path.token_tile, 16);
}

TEST(ExpertsPath, Gemm2RunsOnGemm1sTileUnlessForcedApart) {
  const ExpertRows rows = contiguous(8, 256);
  const GroupedTileContext narrow_h100{256, PeakBandwidth::kBelow4TBps};
  const ExpertsPath same = choose_experts_path(contiguous(32768, 256), ExpertKernel::kAuto, -1, false, narrow_h100);
  EXPECT_EQ(same.gemm2_tile, same.grouped_tile);
  const ExpertsPath forced = choose_experts_path(rows, ExpertKernel::kGroupedTile, 3, false, kH200);
  EXPECT_EQ(forced.gemm2_tile, GroupedTile::k128x256);
  const ExpertsPath apart = choose_experts_path(rows, ExpertKernel::kGroupedTile, 3, false, kH200, 4);
  EXPECT_EQ(apart.grouped_tile, GroupedTile::k128x256);
  EXPECT_EQ(apart.gemm2_tile, GroupedTile::k64x256);
  // GEMM1's heuristic tile stays when only GEMM2's is forced.
  const ExpertsPath only_gemm2 = choose_experts_path(contiguous(32768, 256), ExpertKernel::kGroupedTile, -1, false,
                                                     narrow_h100, 0);
  EXPECT_EQ(only_gemm2.grouped_tile, GroupedTile::k128x256);
  EXPECT_EQ(only_gemm2.gemm2_tile, GroupedTile::k64x128);
  // Reading GEMM1's rows by index depends on GEMM1's tile only.
  EXPECT_TRUE(experts_path_reads_rows_by_index(only_gemm2, TokenGather::kAuto));
}

TEST(ExpertsPath, AutoReadsTokenRowsByIndexOnStreamingAndNarrowExpertsGroupedTilesOfAnH100) {
  const auto by_index = [](const ExpertsPath& path) { return experts_path_reads_rows_by_index(path, TokenGather::kAuto); };
  const ExpertRows rows = contiguous(32768, 256);
  EXPECT_TRUE(by_index(choose_experts_path(rows, ExpertKernel::kWeightStreaming, -1, false, kH200)));
  // DeepSeek-V3 TP8 (I = 256) at M = 4096 on an H100: 128 rows per expert take the 128x256 tile,
  // whose GEMM1 then reads the rows by index.
  const GroupedTileContext narrow_h100{256, PeakBandwidth::kBelow4TBps};
  const ExpertsPath narrow = choose_experts_path(rows, ExpertKernel::kAuto, -1, false, narrow_h100);
  EXPECT_EQ(narrow.grouped_tile, GroupedTile::k128x256);
  EXPECT_TRUE(by_index(narrow));
  // At M = 1024 (32 rows per expert) the 64x256 tile, whose GEMM1 reads them by index too.
  const ExpertsPath narrow_few = choose_experts_path(contiguous(8192, 256), ExpertKernel::kAuto, -1, false, narrow_h100);
  EXPECT_EQ(narrow_few.grouped_tile, GroupedTile::k64x256);
  EXPECT_TRUE(by_index(narrow_few));
  // Not measured on an H200, where the copy costs less: it keeps the copy.
  const GroupedTileContext narrow_h200{256, PeakBandwidth::k4TBpsOrMore};
  EXPECT_FALSE(by_index(choose_experts_path(rows, ExpertKernel::kAuto, -1, false, narrow_h200)));
  // From 256 rows per expert (M = 8192) the narrow GEMM1 keeps CUTLASS's on the copy.
  EXPECT_FALSE(by_index(choose_experts_path(contiguous(65536, 256), ExpertKernel::kAuto, -1, false, narrow_h100)));
  // Wide experts keep CUTLASS's GEMM1 on the gathered copy (measured faster there).
  const GroupedTileContext wide_h100{2048, PeakBandwidth::kBelow4TBps};
  for (const int32_t tactic : {3, 4}) {
    EXPECT_FALSE(by_index(choose_experts_path(rows, ExpertKernel::kGroupedTile, tactic, false, wide_h100)))
        << "tactic " << tactic;
  }
  // The other tiles' GEMM1 is CUTLASS's, whose TMA loads need the rows gathered first.
  for (const int32_t tactic : {0, 1, 2}) {
    EXPECT_FALSE(by_index(choose_experts_path(rows, ExpertKernel::kGroupedTile, tactic, false, narrow_h100)))
        << "tactic " << tactic;
  }
}

TEST(ExpertsPath, TokenGatherCopyAlwaysCopiesAndIndexReadsByIndexWhereAKernelCan) {
  const GroupedTileContext wide_h200{2048, PeakBandwidth::k4TBpsOrMore};
  const ExpertsPath streaming = choose_experts_path(contiguous(8, 256), ExpertKernel::kAuto, -1, false, wide_h200);
  EXPECT_EQ(streaming.kernel, ExpertKernel::kWeightStreaming);
  EXPECT_FALSE(experts_path_reads_rows_by_index(streaming, TokenGather::kCopy));
  EXPECT_TRUE(experts_path_reads_rows_by_index(streaming, TokenGather::kIndex));
  const ExpertRows rows = contiguous(32768, 256);
  for (const int32_t tactic : {0, 1, 2, 3, 4}) {
    const ExpertsPath path = choose_experts_path(rows, ExpertKernel::kGroupedTile, tactic, false, wide_h200);
    const bool has_gather_kernel = path.grouped_tile == GroupedTile::k128x256 || path.grouped_tile == GroupedTile::k64x256;
    EXPECT_EQ(experts_path_reads_rows_by_index(path, TokenGather::kIndex), has_gather_kernel) << "tactic " << tactic;
    EXPECT_FALSE(experts_path_reads_rows_by_index(path, TokenGather::kCopy)) << "tactic " << tactic;
  }
}

TEST(GroupedTile, ActivationRunsInTheEpilogueOfThe64x256TileWhenGateAndUpShareIt) {
  const int64_t long_k = 7168;  // DeepSeek-V3's hidden size
  EXPECT_TRUE(grouped_tile_fuses_activation(GroupedTile::k64x256, long_k, /*gated=*/true, /*blocked_w13=*/true));
  EXPECT_TRUE(grouped_tile_fuses_activation(GroupedTile::k64x256, long_k, /*gated=*/false, /*blocked_w13=*/false));
  EXPECT_TRUE(grouped_tile_fuses_activation(GroupedTile::k64x256, 3072, /*gated=*/true, /*blocked_w13=*/true));
  // Checkpoint order (I not a multiple of 128): gate and up are not 128 columns apart.
  EXPECT_FALSE(grouped_tile_fuses_activation(GroupedTile::k64x256, long_k, /*gated=*/true, /*blocked_w13=*/false));
  // Measured slower: a short reduction (Qwen3-30B-A3B, K = 2048) and the cooperative tiles.
  EXPECT_FALSE(grouped_tile_fuses_activation(GroupedTile::k64x256, 2048, /*gated=*/true, /*blocked_w13=*/true));
  for (const GroupedTile tile :
       {GroupedTile::k64x128, GroupedTile::k128x128, GroupedTile::k256x128, GroupedTile::k128x256}) {
    EXPECT_FALSE(grouped_tile_fuses_activation(tile, long_k, /*gated=*/true, /*blocked_w13=*/true));
    EXPECT_FALSE(grouped_tile_fuses_activation(tile, long_k, /*gated=*/false, /*blocked_w13=*/false));
  }
}

}  // namespace
}  // namespace fusedmoe::sm90
