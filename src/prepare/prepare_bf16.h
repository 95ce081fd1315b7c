// Launcher of the in-place BF16 w13 reorder of prepare_weights (sm90_prepare_bf16.cu): gated w13
// rows (and w13_bias entries) from the checkpoint's GateUpRows order into another order, one
// expert at a time through scratch of one expert's w13.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "prepare/bf16_w13_rows.h"

namespace fusedmoe::sm90 {

struct Bf16W13Reorder {
  void* w13 = nullptr;             // bf16 [experts, 2I, hidden_size], contiguous, 16-byte aligned
  int64_t experts = 0;             // E_l
  int64_t intermediate_size = 0;   // I
  int64_t hidden_size = 0;         // H, % 8 == 0 (16-byte rows)
  void* bias = nullptr;            // optional fp32 or bf16 [experts, 2I], contiguous
  bool bias_bf16 = false;
  GateUpRows from = GateUpRows::kGateThenUp;  // the checkpoint's order
  GateUpRows to = GateUpRows::kBlocked;       // the kernels' order
  void* scratch = nullptr;         // device, 16-byte aligned, at least the bytes below
  size_t scratch_bytes = 0;
};

// Scratch of the reorder: one expert's w13, 2I * H bf16 (the bias, at most 2I * 4 bytes per
// expert, goes through the same scratch afterwards).
size_t bf16_w13_reorder_scratch_bytes(int64_t intermediate_size, int64_t hidden_size);

// Enqueues the reorder on `stream`: no sync, no allocation.
void reorder_bf16_w13(const Bf16W13Reorder& reorder, cudaStream_t stream);

}  // namespace fusedmoe::sm90
