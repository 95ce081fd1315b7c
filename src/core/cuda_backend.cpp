// Weight preparation on the CUDA backend.
//
// BF16, gated, I % 128 == 0: w13's rows (and w13_bias's entries) are reordered in place from the
// checkpoint's GateUpLayout into the blocked order of prepare/bf16_w13_rows.h: block b holds the
// gate rows of features [128b, 128b + 128) then the up rows of the same features. The grouped
// GEMM's 256-column GEMM1 tile then holds gate and up of the same 128 features, so the activation
// can run in its epilogue (the 64x256 tile, where that measured faster); the weight-streaming
// kernel and the activation kernel read any order through GateUpRows. The reorder goes one expert at a time through scratch of one expert's w13
// (2I * H * 2 bytes): for DeepSeek-V3 (I = 2048, H = 7168) 2 * 2048 * 7168 * 2 = 58.7 MB of peak
// extra memory, however many experts.
// Other BF16 configurations (non-gated, or I = 232, 192, 2880) keep the checkpoint order: w13
// [E_l, N1, H] and w2 [E_l, H, I] with K contiguous are already the operands both kernel families
// read, and sizes that fit no tile are zero-filled in flight by TMA / cp.async; preparing only
// marks them (no scratch, no copy). w2 is never touched. Other formats have no GPU kernels yet and
// say so.
#include "core/check.h"
#include "core/cuda_backend.h"
#include "gemm/sm90/bf16_experts.h"
#include "prepare/bf16_w13_rows.h"
#include "prepare/prepare_bf16.h"

namespace fusedmoe::cuda {

namespace {

bool reorders_w13(const MoeConfig& moe) {
  return moe.weight_format == WeightFormat::kBF16 && sm90::bf16_w13_blocked(moe);
}

}  // namespace

void prepare_weights(const MoeConfig& moe, ExpertWeights& weights, Workspace scratch,
                     Stream stream) {
  const std::string reason = sm90::bf16_experts_unsupported_reason(moe);
  if (!reason.empty()) detail::throw_unsupported(reason);
  if (reorders_w13(moe)) {
    sm90::Bf16W13Reorder reorder;
    reorder.w13 = weights.w13.data;
    reorder.experts = moe.local_experts();
    reorder.intermediate_size = moe.intermediate_size;
    reorder.hidden_size = moe.hidden_size;
    reorder.bias = weights.w13_bias.data;
    reorder.bias_bf16 = weights.w13_bias.dtype == DType::kBFloat16;
    reorder.from = sm90::checkpoint_gate_up_rows(moe.gate_up_layout);
    reorder.to = sm90::prepared_gate_up_rows(moe);
    reorder.scratch = scratch.data;
    reorder.scratch_bytes = scratch.bytes;
    sm90::reorder_bf16_w13(reorder, stream);
  }
  weights.layout = WeightLayout::kSm90Prepared;
}

size_t prepare_scratch_bytes(const MoeConfig& moe) {
  if (!reorders_w13(moe)) return 0;
  return sm90::bf16_w13_reorder_scratch_bytes(moe.intermediate_size, moe.hidden_size);
}

}  // namespace fusedmoe::cuda
