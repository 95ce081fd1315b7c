// CUDA backend entries whose kernels are not in this build yet. Each says so with a clear
// kUnsupported error (and cuda::supports reports the same reason), never a stub result.
#include "core/cuda_backend.h"

#include "core/check.h"

namespace fusedmoe::cuda {

namespace {
std::string missing_gemm_reason(const MoeConfig& moe) {
  return std::string("no sm90 expert GEMM kernel for weight format '") +
         weight_format_name(moe.weight_format) +
         "' in this build yet (expert compute on CUDA lands with the BF16/FP8/FP4 GEMM work); "
         "the CPU reference (Backend::kCpuReference) runs every format";
}
}  // namespace

void experts(const MoePlan& plan, const ExpertsInputs&, const ExpertWeights&, TensorView,
             Workspace, Stream) {
  detail::throw_unsupported(missing_gemm_reason(plan.moe));
}

void fused(const MoePlan& plan, const FusedInputs&, const ExpertWeights&, TensorView, Workspace,
           Stream) {
  detail::throw_unsupported(missing_gemm_reason(plan.moe));
}

void routed(const MoePlan& plan, const RoutedInputs&, const ExpertWeights&, TensorView, Workspace,
            Stream) {
  detail::throw_unsupported(missing_gemm_reason(plan.moe));
}

void prepare_weights(const MoeConfig& moe, ExpertWeights&, Workspace, Stream) {
  detail::throw_unsupported(missing_gemm_reason(moe));
}

size_t prepare_scratch_bytes(const MoeConfig&) { return 0; }

}  // namespace fusedmoe::cuda
