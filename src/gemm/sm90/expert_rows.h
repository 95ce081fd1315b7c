// Which rows of a per-expert buffer hold tokens: the contiguous layout (expert e owns rows
// [offsets[e], offsets[e+1])) or the masked one (expert e owns rows [e*capacity, e*capacity +
// counts[e])). Kernels that walk every row of a buffer use row_is_valid() to skip the rest, so
// a grid sized from the largest possible row count never touches garbage rows.
//
// A third form has no buffer of its own: kTopkIds reads the routing's [tokens, top_k] ids, and
// the rows of expert e are the slots (token * top_k + slot) whose id is e's global id, in slot
// order; row storage is indexed by slot. Only the weight-streaming kernels take it (they list the
// experts per CTA), for decode batches where it saves the dispatch-maps kernel.
#pragma once

#include <cstdint>

namespace fusedmoe::sm90 {

// Where the rows of each expert live.
enum class GroupRows : int32_t {
  kOffsets = 0,  // contiguous rows: expert e owns rows [offsets[e], offsets[e+1])
  kMasked = 1,   // expert e owns rows [e*capacity, e*capacity + counts[e])
  kTopkIds = 2,  // rows are slots; expert e's are those whose id is local_expert_offset + e
};

struct ExpertRows {
  GroupRows layout = GroupRows::kOffsets;
  const int32_t* offsets = nullptr;  // kOffsets: [num_experts + 1]
  const int32_t* counts = nullptr;   // kMasked: [num_experts]
  int64_t capacity = 0;              // kMasked
  int32_t num_experts = 0;
  int64_t max_rows = 0;              // rows of the buffer (kTopkIds: slots): grids are sized from it
  const void* topk_ids = nullptr;     // kTopkIds: [max_rows / top_k, top_k] global ids, -1 none
  bool topk_ids_int64 = false;        // kTopkIds: int64 ids (else int32)
  int64_t topk_ids_row_stride = 0;    // kTopkIds: elements between tokens' ids
  int32_t top_k = 0;                  // kTopkIds
  int32_t local_expert_offset = 0;    // kTopkIds: global id of local expert 0
};

#ifdef __CUDACC__
// First row of local expert `expert` in the buffer.
__device__ inline int64_t expert_first_row(const ExpertRows& rows, int expert) {
  return rows.layout == GroupRows::kOffsets ? rows.offsets[expert]
                                            : static_cast<int64_t>(expert) * rows.capacity;
}

// Rows of local expert `expert`. A masked count outside [0, capacity] or a decreasing offset
// (caller bugs) is clamped: never read or write outside the expert's rows.
__device__ inline int32_t expert_row_count(const ExpertRows& rows, int expert) {
  const int64_t count = rows.layout == GroupRows::kOffsets
                            ? int64_t{rows.offsets[expert + 1]} - rows.offsets[expert]
                            : int64_t{rows.counts[expert]};
  if (count < 0) return 0;
  if (rows.layout == GroupRows::kMasked && count > rows.capacity) return static_cast<int32_t>(rows.capacity);
  return static_cast<int32_t>(count);
}

// kTopkIds: the global id of slot `slot` (token slot / top_k, its slot % top_k-th choice).
__device__ inline int64_t topk_id(const ExpertRows& rows, int64_t slot) {
  const int64_t index = (slot / rows.top_k) * rows.topk_ids_row_stride + slot % rows.top_k;
  return rows.topk_ids_int64 ? static_cast<const int64_t*>(rows.topk_ids)[index]
                             : static_cast<const int32_t*>(rows.topk_ids)[index];
}

__device__ inline bool row_is_valid(const ExpertRows& rows, int64_t row) {
  if (rows.layout == GroupRows::kOffsets) return row < rows.offsets[rows.num_experts];
  const int64_t expert = row / rows.capacity;
  if (expert >= rows.num_experts) return false;
  return row - expert * rows.capacity < rows.counts[expert];
}
#endif

}  // namespace fusedmoe::sm90
