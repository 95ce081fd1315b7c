// Which rows of a per-expert buffer hold tokens: the contiguous layout (expert e owns rows
// [offsets[e], offsets[e+1])) or the masked one (expert e owns rows [e*capacity, e*capacity +
// counts[e])). Kernels that walk every row of a buffer use row_is_valid() to skip the rest, so
// a grid sized from the largest possible row count never touches garbage rows.
#pragma once

#include <cstdint>

#include "gemm/sm90/grouped_gemm_bf16.h"

namespace fusedmoe::sm90 {

struct ExpertRows {
  GroupRows layout = GroupRows::kOffsets;
  const int32_t* offsets = nullptr;  // kOffsets: [num_experts + 1]
  const int32_t* counts = nullptr;   // kMasked: [num_experts]
  int64_t capacity = 0;              // kMasked
  int32_t num_experts = 0;
  int64_t max_rows = 0;              // rows of the buffer: grids are sized from it
};

#ifdef __CUDACC__
__device__ inline bool row_is_valid(const ExpertRows& rows, int64_t row) {
  if (rows.layout == GroupRows::kOffsets) return row < rows.offsets[rows.num_experts];
  const int64_t expert = row / rows.capacity;
  if (expert >= rows.num_experts) return false;
  return row - expert * rows.capacity < rows.counts[expert];
}
#endif

}  // namespace fusedmoe::sm90
