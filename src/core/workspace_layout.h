// Carves one caller-provided workspace into regions at fixed, 256-byte-aligned offsets. A stage
// computes its layout once from the plan's sizes; the same offsets serve sizing (total()) and
// carving, so the two can never disagree.
#pragma once

#include <cstddef>

namespace fusedmoe::detail {

class WorkspaceLayout {
 public:
  // 256 bytes: TMA and vector loads need 16, CUTLASS's own scratch 128; one value for every region.
  static constexpr size_t kAlignment = 256;

  static constexpr size_t align_up(size_t bytes) {
    return (bytes + kAlignment - 1) / kAlignment * kAlignment;
  }

  // Reserves `bytes` and returns the region's offset.
  size_t take(size_t bytes) {
    const size_t offset = cursor_;
    cursor_ += align_up(bytes);
    return offset;
  }

  size_t total() const { return cursor_; }

 private:
  size_t cursor_ = 0;
};

}  // namespace fusedmoe::detail
