// GEMM1 of the grouped tile path with the token rows read by index: for every local expert e and
// every row r of e (dispatch order),
//   h[r, :] = x[row_to_slot[r] / top_k, :] · w13[e]ᵀ
// and, with an activation epilogue, a[r, :] = act(h[r, :]) rounded as the separate activation
// kernel rounds it (docs/NUMERICS.md). It replaces dispatch's gathered copy of the hidden rows
// (M · top_k · H · 2 bytes written and read again) where CUTLASS's grouped GEMM1, whose TMA loads
// need the rows of a tile contiguous, would read that copy (ExpertsPath says where). Same tile
// (128 or 64 rows x 256 x 64), same wgmma instructions (m64n256k16) and the same K order as that
// GEMM's 128x256 and 64x256 tiles: h is bitwise the copy path's.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "fusedmoe/config.h"
#include "gemm/sm90/expert_rows.h"

namespace fusedmoe::sm90 {

// What the epilogue writes.
enum class GatherGemm1Output : int32_t {
  kProduct = 0,             // h, [rows, n] bf16 (the activation runs as its own kernel)
  kGatedActivation = 1,     // act(gate, up) of a kBlocked w13 (prepare/bf16_w13_rows.h), [rows, I]
  kSingleActivation = 2,    // act(h) of a non-gated w1, [rows, n]
};

struct GatherGemm1Params {
  ExpertRows rows;                   // kOffsets or kMasked: the dispatched rows of each expert
  const void* x = nullptr;           // bf16 token rows (hidden_states)
  int64_t x_row_stride = 0;          // elements between token rows, % 8 == 0
  const int32_t* row_to_slot = nullptr;  // [rows.max_rows]: token * top_k + choice, < 0 none
  int32_t top_k = 1;
  int64_t k = 0;                     // H, % 8 == 0
  const void* w = nullptr;           // bf16 [rows.num_experts, n, k]
  int64_t n = 0;                     // 2I (gated) or I, % 8 == 0
  void* out = nullptr;               // bf16 [rows.max_rows, out_columns]
  int64_t out_columns = 0;           // n, or I for kGatedActivation
  GatherGemm1Output output = GatherGemm1Output::kProduct;
  Activation activation = Activation::kSwiGLU;
  float alpha = 1.702f, beta = 1.0f, clamp_limit = 0.0f;
  int32_t tile_rows = 128;           // token rows per tile: 128 or 64 (the grouped tile's M)
};

// Enqueues the kernel on `stream` (programmatic dependent launch: it waits for the dispatch maps).
void launch_gather_gemm1(const GatherGemm1Params& params, cudaStream_t stream);

}  // namespace fusedmoe::sm90
