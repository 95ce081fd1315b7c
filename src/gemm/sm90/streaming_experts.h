// The weight-streaming expert GEMMs (sm90_streaming_experts.cu): the decode path of the BF16
// expert compute, for batches where each expert sees few tokens. Weights are the MMA's M side
// (A/B swapped), tokens the small N side (8–64 per tile), so each expert's weights are streamed
// from memory once per token tile at close to full bandwidth, over every SM.
//
//   GEMM1 (+activation): a[r, f] = act(x[r, :] · w13[e, gate(f), :] + b13[e, gate(f)],
//                                      x[r, :] · w13[e, up(f), :] + b13[e, up(f)])
//                        (non-gated: act(x[r, :] · w1[e, f, :])), rounded as the grouped path:
//                        GEMM1 result to bf16, activation in fp32, result to bf16.
//   GEMM2:               out[r, n] = round(x2[r, :] · w2[e, n, :] + b2[e, n]), times the row's
//                        router weight (then rounded again) when row weights are given.
// for every row r of local expert e (ExpertRows: contiguous offsets or masked slabs).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "fusedmoe/config.h"
#include "gemm/sm90/expert_rows.h"
#include "prepare/bf16_w13_rows.h"

namespace fusedmoe::sm90 {

struct StreamingGemmParams {
  ExpertRows rows;  // kOffsets, kMasked, or kTopkIds (at most kStreamingMaxTopkSlots slots)
  // Upper bound on experts with at least one row: the grid's second dimension. CTAs whose rank
  // exceeds the experts actually present exit at once.
  int32_t max_active_experts = 0;
  const void* x = nullptr;   // bf16 [rows.max_rows, k], or the token rows x_slots points into
  int64_t k = 0;             // reduction length, % 8 == 0
  // Optional gather by index: buffer row r then reads row x_slots[r] / x_slots_top_k of x (the
  // dispatch maps' row_to_slot holds token * top_k + slot; -1 reads zeros), so GEMM1 takes
  // hidden_states as they are instead of a gathered copy. With kTopkIds rows, slot s reads row
  // s / x_slots_top_k (GEMM1: top_k, the token; GEMM2: 1, the slot's activation) and writes row
  // s of out. x_row_stride: elements between rows of x, % 8 == 0 (0: k).
  const int32_t* x_slots = nullptr;
  int32_t x_slots_top_k = 1;
  int64_t x_row_stride = 0;
  const void* w = nullptr;   // bf16 [num_experts, w_rows, k]
  int64_t w_rows = 0;        // 2I (gated GEMM1), I (non-gated GEMM1) or H (GEMM2)
  void* out = nullptr;       // bf16 [rows.max_rows, out_columns]
  int64_t out_columns = 0;   // I (GEMM1) or H (GEMM2), % 8 == 0

  // Optional bias per output row of the weight matrix (fp32 or bf16 [num_experts, w_rows]),
  // added to the fp32 accumulator before the first rounding, as the reference does.
  const void* bias = nullptr;
  bool bias_bf16 = false;

  // GEMM1 only.
  Activation activation = Activation::kSwiGLU;
  GateUpRows layout = GateUpRows::kGateThenUp;  // where gate(f) / up(f) are in w13 (and the bias)
  float alpha = 1.702f, beta = 1.0f, clamp_limit = 0.0f;

  // GEMM2 only: optional router weight per row (fp32 or bf16), indexed by row or row_to_slot.
  const void* row_weights = nullptr;
  bool row_weights_bf16 = false;
  const int32_t* row_to_slot = nullptr;

  // Column slices (64 output columns each) per CTA: 0 lets the launcher choose; > 0 forces it,
  // for tests (only GEMM2's 64-row CTAs take more than one).
  int32_t column_slices = 0;
};

// Most slots kTopkIds rows may hold (the kernels list them one per thread).
constexpr int64_t kStreamingMaxTopkSlots = 128;

// Token tile (MMA N) for an expected number of rows per expert: 8, 16, 32 or 64.
int streaming_token_tile(int64_t expected_rows_per_expert);

void launch_streaming_gemm1(const StreamingGemmParams& params, int token_tile, cudaStream_t stream);
void launch_streaming_gemm2(const StreamingGemmParams& params, int token_tile, cudaStream_t stream);

}  // namespace fusedmoe::sm90
