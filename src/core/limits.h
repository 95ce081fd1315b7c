// Limits shared by validation and the CUDA backend's workspace sizing, so that every row count
// validation accepts fits the workspace a plan was sized for.
#pragma once

#include <cstdint>

#include "fusedmoe/moe.h"

namespace fusedmoe::detail {

// Largest moe_dispatch row_alignment (segments padded to a multiple of it). Power of two.
constexpr int32_t kMaxRowAlignment = 256;

// Rows a dispatch can produce for M tokens: M * top_k slots plus the padding of every local
// expert's segment. moe_experts accepts at most this many rows (R, or E_l * capacity) for the
// plan's max_num_tokens, so a workspace sized with it never overflows.
inline int64_t max_dispatch_rows(const MoeConfig& moe, int64_t num_tokens, int32_t row_alignment) {
  return num_tokens * moe.top_k + static_cast<int64_t>(moe.local_experts()) * (row_alignment - 1);
}

inline int64_t max_expert_rows(const MoePlan& plan) {
  return max_dispatch_rows(plan.moe, plan.options.max_num_tokens, kMaxRowAlignment);
}

}  // namespace fusedmoe::detail
