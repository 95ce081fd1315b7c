// prepare_weights validation: a checkpoint-layout weight set on the backend's device, and enough
// scratch for the CUDA conversion.
#include <cstdint>
#include <string>

#include "core/check.h"
#include "core/cuda_backend.h"
#include "core/validate.h"
#include "core/validate_weights.h"

namespace fusedmoe::detail {

namespace {

constexpr size_t kScratchAlignment = 16;  // the reorder's 16-byte row copies

void check_scratch(const MoeConfig& moe, const Workspace& scratch) {
  const size_t required = cuda::prepare_scratch_bytes(moe);
  if (scratch.bytes < required) {
    throw_invalid("scratch.bytes", "at least prepare_scratch_bytes() = " + std::to_string(required),
                  std::to_string(scratch.bytes));
  }
  if (scratch.bytes > 0 && scratch.data == nullptr) {
    throw_invalid("scratch.data", "a device pointer to " + std::to_string(scratch.bytes) + " bytes",
                  "nullptr");
  }
  if (reinterpret_cast<uintptr_t>(scratch.data) % kScratchAlignment != 0) {
    throw_invalid(
        "scratch.data", "a pointer aligned to " + std::to_string(kScratchAlignment) + " bytes",
        "address with offset " +
            std::to_string(reinterpret_cast<uintptr_t>(scratch.data) % kScratchAlignment));
  }
}

}  // namespace

Device validate_prepare(const MoeConfig& moe, Backend backend, const ExpertWeights& weights,
                        Workspace scratch) {
  validate_moe_config(moe, "moe.");
  check_enum(backend, "backend", "Backend", Backend::kCudaSm90);
  // Weights do not depend on routing or the token count: a default plan carries the backend.
  MoePlan plan;
  plan.moe = moe;
  plan.options.backend = backend;
  CallChecker checker(plan, weights.w13, "weights.w13", "backend");
  validate_weights(checker, moe, weights, WeightLayout::kCheckpoint);
  if (checker.on_cuda()) check_scratch(moe, scratch);
  return checker.device();
}

}  // namespace fusedmoe::detail
