// Grouped bf16 GEMM, 64×256×64 tile, pingpong: each of two consumer warpgroups owns a whole 64-row tile of 256
// weight rows (64-row padding granularity with the 256-wide wgmma of the cooperative 128x256).
#include "gemm/sm90/grouped_gemm_bf16_impl.cuh"
#include "gemm/sm90/grouped_gemm_bf16_tiles.h"

namespace fusedmoe::sm90 {
namespace {

using Tile = grouped_detail::GroupedGemm<cute::Shape<cute::_64, cute::_256, cute::_64>,
                                         cutlass::gemm::KernelPtrArrayTmaWarpSpecializedPingpong,
                                         cutlass::epilogue::PtrArrayTmaWarpSpecializedPingpong>;

}  // namespace

size_t grouped_gemm_bf16_64x256_workspace_bytes(int32_t num_groups) { return Tile::required_workspace_bytes(num_groups); }

void grouped_gemm_bf16_64x256(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                         Stream stream) {
  Tile::run(problem, workspace, workspace_bytes, stream);
}

}  // namespace fusedmoe::sm90
