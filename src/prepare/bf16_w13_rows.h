// Row order of a gated BF16 w13 in the sm90 kernel layout (WeightLayout::kSm90Prepared).
//
// The checkpoint orders w13's 2I rows as gate-then-up, up-then-gate or interleaved
// (GateUpLayout). When I is a multiple of kGateUpBlock, prepare_weights reorders them into
// blocks of 2 * kGateUpBlock rows: block b holds the gate rows of features
// [b * kGateUpBlock, (b + 1) * kGateUpBlock) followed by the up rows of the same features. A
// 256-column GEMM1 tile then computes gate and up of the same 128 features, and every accumulator
// thread holds a gate value and its up value 128 columns apart: the activation can run in the
// grouped GEMM's epilogue with no GEMM1-output round trip (grouped_tile_fuses_activation says
// where it does). Other sizes (I = 232, 192, 2880) keep the checkpoint order (the grouped path
// then runs the activation as a separate kernel).
// w13_bias [E_l, 2I] follows the same row order as w13.
#pragma once

#include <cstdint>

#include "core/host_device.h"
#include "fusedmoe/config.h"

namespace fusedmoe::sm90 {

constexpr int64_t kGateUpBlock = 128;

// How a kernel finds the gate and up rows of feature f in w13 (or columns of GEMM1's output).
enum class GateUpRows : int32_t {
  kGateThenUp = 0,   // checkpoint: gate f, up I + f
  kUpThenGate = 1,   // checkpoint: up f, gate I + f
  kInterleaved = 2,  // checkpoint: gate 2f, up 2f + 1
  kBlocked = 3,      // prepared: gate (f / 128) * 256 + f % 128, up 128 rows later
};

// Whether prepare_weights puts a gated w13 of this configuration into kBlocked order.
inline bool bf16_w13_blocked(const MoeConfig& moe) {
  return activation_is_gated(moe.activation) && moe.intermediate_size % kGateUpBlock == 0;
}

// The row order of a checkpoint's w13.
inline GateUpRows checkpoint_gate_up_rows(GateUpLayout layout) {
  switch (layout) {
    case GateUpLayout::kUpThenGate: return GateUpRows::kUpThenGate;
    case GateUpLayout::kInterleaved: return GateUpRows::kInterleaved;
    default: return GateUpRows::kGateThenUp;
  }
}

// The row order the kernels read for prepared weights of this configuration.
inline GateUpRows prepared_gate_up_rows(const MoeConfig& moe) {
  return bf16_w13_blocked(moe) ? GateUpRows::kBlocked : checkpoint_gate_up_rows(moe.gate_up_layout);
}

FUSEDMOE_HOST_DEVICE inline int64_t gate_row(GateUpRows rows, int64_t intermediate_size,
                                             int64_t feature) {
  switch (rows) {
    case GateUpRows::kUpThenGate: return intermediate_size + feature;
    case GateUpRows::kInterleaved: return 2 * feature;
    case GateUpRows::kBlocked:
      return (feature / kGateUpBlock) * 2 * kGateUpBlock + feature % kGateUpBlock;
    default: return feature;
  }
}

FUSEDMOE_HOST_DEVICE inline int64_t up_row(GateUpRows rows, int64_t intermediate_size,
                                           int64_t feature) {
  switch (rows) {
    case GateUpRows::kUpThenGate: return feature;
    case GateUpRows::kInterleaved: return 2 * feature + 1;
    case GateUpRows::kBlocked:
      return (feature / kGateUpBlock) * 2 * kGateUpBlock + kGateUpBlock + feature % kGateUpBlock;
    default: return intermediate_size + feature;
  }
}

}  // namespace fusedmoe::sm90

