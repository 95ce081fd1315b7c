// Weight preparation on the CUDA backend.
//
// BF16: the sm90 grouped GEMMs read the checkpoint layout as it is (w13 [E_l, N1, H] and
// w2 [E_l, H, I] with K contiguous are the column-major B operands CUTLASS wants, and the
// activation kernel reads gate/up in any GateUpLayout), so preparing only marks the weights; no
// scratch, no copy. Other formats have no GPU kernels yet and say so.
#include "core/check.h"
#include "core/cuda_backend.h"
#include "gemm/sm90/bf16_experts.h"

namespace fusedmoe::cuda {

void prepare_weights(const MoeConfig& moe, ExpertWeights& weights, Workspace, Stream) {
  const std::string reason = sm90::bf16_experts_unsupported_reason(moe);
  if (!reason.empty()) detail::throw_unsupported(reason);
  weights.layout = WeightLayout::kSm90Prepared;
}

size_t prepare_scratch_bytes(const MoeConfig&) { return 0; }

}  // namespace fusedmoe::cuda
