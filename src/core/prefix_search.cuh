// Which run of a non-decreasing prefix sum holds an index: the dispatch padding rows and the
// gathering GEMM1's tiles both number work items across experts by an exclusive prefix sum and
// map an item back to its expert. Shared by the dispatch and expert kernels.
#pragma once

#include <cstdint>

namespace fusedmoe::cuda {

// The last e in [0, count) with prefix[e] <= value, given prefix[0] <= value < prefix[count].
// Experts whose run is empty share their prefix with the next one and are never returned.
__device__ __forceinline__ int last_run_at_or_below(const int32_t* prefix, int count, int32_t value) {
  int low = 0;
  int high = count;
  while (high - low > 1) {
    const int middle = (low + high) / 2;
    if (prefix[middle] <= value) {
      low = middle;
    } else {
      high = middle;
    }
  }
  return low;
}

}  // namespace fusedmoe::cuda
