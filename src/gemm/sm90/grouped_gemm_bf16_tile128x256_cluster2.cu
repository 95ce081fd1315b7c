// Grouped bf16 GEMM, 128×256×64 tile, cooperative, clusters of 2 CTAs along the rows: the two
// CTAs of a cluster work on row tiles of the same weight columns, so each weight tile is fetched
// once and multicast to both.
#include "gemm/sm90/grouped_gemm_bf16_impl.cuh"
#include "gemm/sm90/grouped_gemm_bf16_tiles.h"

namespace fusedmoe::sm90 {
namespace {

using Tile = grouped_detail::GroupedGemm<cute::Shape<cute::_128, cute::_256, cute::_64>,
                                         cutlass::gemm::KernelPtrArrayTmaWarpSpecializedCooperative,
                                         cutlass::epilogue::PtrArrayTmaWarpSpecializedCooperative,
                                         cute::Shape<cute::_2, cute::_1, cute::_1>>;

}  // namespace

size_t grouped_gemm_bf16_128x256_cluster2_workspace_bytes(int32_t num_groups) { return Tile::required_workspace_bytes(num_groups); }

void grouped_gemm_bf16_128x256_cluster2(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                         Stream stream) {
  Tile::run(problem, workspace, workspace_bytes, stream);
}

}  // namespace fusedmoe::sm90
