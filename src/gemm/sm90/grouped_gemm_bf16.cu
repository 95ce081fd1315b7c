// Grouped bf16 GEMM (grouped_gemm_bf16.h): picks the tile instantiation
// (grouped_gemm_bf16_tile*.cu, built from CUTLASS 3.x Hopper collectives: TMA loads, wgmma,
// warp-specialized kernels with a persistent grouped tile scheduler).
#include "gemm/sm90/grouped_gemm_bf16.h"

#include <algorithm>

#include "fusedmoe/error.h"
#include "gemm/sm90/grouped_gemm_bf16_tiles.h"

namespace fusedmoe::sm90 {

// Measured on an H200 with every tile forced (docs/PERF.md, `fusedmoe bench --tactic`): the
// 64x256 pingpong tile is the fastest or tied from 16 to 256 rows per expert on every preset
// (Mixtral M = 256, 64 rows: 777 us against 898 for 128x128; MiniMax-M2 M = 4096, 128 rows: 2445
// against 2645 for 128x256; Mixtral M = 1024, 256 rows: 1390 against 1476); 128x256 wins from
// 512 rows (DeepSeek-V3 M = 16384: 21.4 ms against 21.8; Qwen3-30B-A3B M = 16384, 1024 rows:
// 2641 us against 2783). 64x128, 128x128 and 256x128 never win and stay as forced tactics.
GroupedTile grouped_tile_for_rows(double mean_rows_per_expert) {
  if (mean_rows_per_expert <= 384.0) return GroupedTile::k64x256;
  return GroupedTile::k128x256;
}

size_t grouped_gemm_bf16_workspace_bytes(int32_t num_groups) {
  return std::max({grouped_gemm_bf16_64x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_128x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_256x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_128x256_workspace_bytes(num_groups),
                   grouped_gemm_bf16_64x256_workspace_bytes(num_groups),
                   grouped_gemm_bf16_64x256_activation_workspace_bytes(num_groups)});
}

// Same-run A/B on an H200 (docs/PERF.md) of the activation epilogue against the product stored
// through CUTLASS's TMA epilogue plus the activation kernel: on the 64x256 pingpong tile with
// K = 3072-7168 (DeepSeek-V3, its TP8 shard, MiniMax-M2, Mixtral at M = 1024-4096) 0.6-2.3 %
// faster; with K = 2048 (Qwen3-30B-A3B) 4-5 % slower, and on the cooperative 128x256 tile (M =
// 16384) 1.4-5.5 % slower: its direct 4-byte stores fill half sectors and, without a second
// warpgroup's mainloop to hide them behind, cost more than the round trip they save.
constexpr int64_t kActivationEpilogueMinK = 3072;

bool grouped_tile_fuses_activation(GroupedTile tile, int64_t k, bool gated, bool blocked_w13) {
  return tile == GroupedTile::k64x256 && k >= kActivationEpilogueMinK && (!gated || blocked_w13);
}

void grouped_gemm_bf16(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                       Stream stream) {
  if (problem.output == GroupedOutput::kActivation) {
    if (problem.tile == GroupedTile::k64x256) {
      return grouped_gemm_bf16_64x256_activation(problem, workspace, workspace_bytes, stream);
    }
    throw Error(ErrorKind::kInternal, "fusedmoe: the activation epilogue runs on the 64x256 grouped "
                                      "tile only (ask grouped_tile_fuses_activation first)");
  }
  switch (problem.tile) {
    case GroupedTile::k64x128: return grouped_gemm_bf16_64x128(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k128x128: return grouped_gemm_bf16_128x128(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k128x256: return grouped_gemm_bf16_128x256(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k64x256: return grouped_gemm_bf16_64x256(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k256x128: break;
  }
  grouped_gemm_bf16_256x128(problem, workspace, workspace_bytes, stream);
}

}  // namespace fusedmoe::sm90
