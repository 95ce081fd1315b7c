// Weight preparation on the CUDA backend.
//
// BF16: both sm90 expert kernels read the checkpoint layout as it is: w13 [E_l, N1, H] and
// w2 [E_l, H, I] with K contiguous are the column-major B operands the CUTLASS grouped GEMM wants
// and the row-major A operands of the weight-streaming kernel, which pairs gate and up rows of any
// GateUpLayout while loading (so its fused activation needs no interleaved copy), and sizes that
// fit no tile (I = 232, H = 2880) are zero-filled in flight by TMA / cp.async. Preparing only marks
// the weights: no scratch, no copy, peak extra memory 0 bytes for any model (DeepSeek-V3's 256
// experts included). Other formats have no GPU kernels yet and say so.
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
