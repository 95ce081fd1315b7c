// Grouped bf16 GEMM1, 64×256×64 tile, pingpong, writing the activation from its epilogue
// (grouped_activation_epilogue.cuh) instead of the product.
#include "gemm/sm90/grouped_gemm_bf16_impl.cuh"
#include "gemm/sm90/grouped_gemm_bf16_tiles.h"

namespace fusedmoe::sm90 {
namespace {

using Tile = grouped_detail::GroupedGemm<cute::Shape<cute::_64, cute::_256, cute::_64>,
                                         cutlass::gemm::KernelPtrArrayTmaWarpSpecializedPingpong,
                                         cutlass::epilogue::PtrArrayTmaWarpSpecializedPingpong, GroupedOutput::kActivation>;

}  // namespace

size_t grouped_gemm_bf16_64x256_activation_workspace_bytes(int32_t num_groups) {
  return Tile::required_workspace_bytes(num_groups);
}

void grouped_gemm_bf16_64x256_activation(const GroupedGemmProblem& problem, void* workspace,
                                       size_t workspace_bytes, Stream stream) {
  Tile::run(problem, workspace, workspace_bytes, stream);
}

}  // namespace fusedmoe::sm90
