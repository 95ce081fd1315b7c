// Grouped bf16 GEMM (grouped_gemm_bf16.h): picks the tile instantiation
// (grouped_gemm_bf16_tile*.cu, built from CUTLASS 3.x Hopper collectives: TMA loads, wgmma,
// warp-specialized kernels with a persistent grouped tile scheduler).
#include "gemm/sm90/grouped_gemm_bf16.h"

#include <algorithm>

#include "gemm/sm90/grouped_gemm_bf16_tiles.h"

namespace fusedmoe::sm90 {

// Measured on an H100 with every tile forced (docs/PERF.md, `fusedmoe bench --tactic`): 64x128
// ties the taller tiles at 32 rows per expert; 128x128 wins at 64 (Mixtral M = 256: 1110 us
// against 1367 for 64x128); 128x256 wins from 128 rows on every preset (DeepSeek-V3 M = 16384:
// 22.5 ms against 28.3 for 256x128, which pads 512 +- 22 rows per expert to three 256-row tiles).
GroupedTile grouped_tile_for_rows(double mean_rows_per_expert) {
  if (mean_rows_per_expert <= 48.0) return GroupedTile::k64x128;
  if (mean_rows_per_expert <= 96.0) return GroupedTile::k128x128;
  return GroupedTile::k128x256;
}

size_t grouped_gemm_bf16_workspace_bytes(int32_t num_groups) {
  return std::max({grouped_gemm_bf16_64x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_128x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_256x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_128x256_workspace_bytes(num_groups)});
}

void grouped_gemm_bf16(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                       Stream stream) {
  switch (problem.tile) {
    case GroupedTile::k64x128: return grouped_gemm_bf16_64x128(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k128x128: return grouped_gemm_bf16_128x128(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k128x256: return grouped_gemm_bf16_128x256(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k256x128: break;
  }
  grouped_gemm_bf16_256x128(problem, workspace, workspace_bytes, stream);
}

}  // namespace fusedmoe::sm90
