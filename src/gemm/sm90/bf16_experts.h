// BF16 expert compute on sm_90a, one of two kernel families per call (ExpertKernel):
//   weight streaming (decode): GEMM1 with the activation in its epilogue -> GEMM2 with the row
//     weight in its epilogue (streaming_experts.h);
//   grouped tile (prefill): GEMM1 (CUTLASS grouped, or gather_gemm1.h reading the token rows by
//     index, see ExpertsPath) -> activation kernel where GEMM1's epilogue did not apply it ->
//     GEMM2 (grouped) -> row weights.
// Rows come grouped by local expert (contiguous with offsets, or masked slabs with counts) and
// are never copied here; weight streaming and the gathering GEMM1 can also read them by index from
// the token rows (Bf16ExpertsCall::x_slots), so the caller need not gather them at all.
//
// Rounding steps (docs/NUMERICS.md): GEMM1 accumulates in fp32 and stores bf16; the activation
// runs in fp32 and stores bf16; GEMM2 accumulates in fp32 and stores bf16; a row weight multiplies
// that bf16 row and rounds again.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "fusedmoe/moe.h"
#include "gemm/sm90/expert_rows.h"
#include "gemm/sm90/grouped_gemm_bf16.h"

namespace fusedmoe::sm90 {

// The kernel family and token tile a call runs with (the heuristic behind ExpertKernel::kAuto).
struct ExpertsPath {
  ExpertKernel kernel = ExpertKernel::kGroupedTile;  // never kAuto
  int token_tile = 0;                                // weight streaming only
  GroupedTile grouped_tile = GroupedTile::k256x128;  // grouped tile only: GEMM1's tile
  GroupedTile gemm2_tile = GroupedTile::k256x128;    // grouped tile only: GEMM2's (PlanOptions::gemm2_tactic)
  // Grouped tile only: GEMM1 reads the token rows by index (gather_gemm1.h) instead of CUTLASS's
  // GEMM1 on a gathered copy: the 128x256 and 64x256 tiles with narrow experts
  // (I <= kNarrowIntermediate), fewer than 256 rows per expert, on a GPU below 4 TB/s.
  bool gemm1_reads_rows_by_index = false;
};

struct Bf16ExpertsCall {
  ExpertRows rows;          // which rows of x / out hold tokens, per local expert
  const void* x = nullptr;  // bf16 [rows.max_rows, H], row stride H; or token rows, with x_slots
  void* out = nullptr;      // bf16 [rows.max_rows, H], row stride H
  // Optional gather by index (only where experts_path_reads_rows_by_index says so): buffer row r
  // reads row x_slots[r] / x_slots_top_k of x (dispatch's row_to_slot), row stride x_row_stride.
  const int32_t* x_slots = nullptr;
  int32_t x_slots_top_k = 1;
  int64_t x_row_stride = 0;
  // Optional router weight per row (fp32 or bf16), indexed by row, or through row_to_slot.
  const void* row_weights = nullptr;
  bool row_weights_bf16 = false;
  const int32_t* row_to_slot = nullptr;
  ExpertKernel kernel = ExpertKernel::kAuto;
  int32_t tactic = -1;        // PlanOptions::tactic
  int32_t gemm2_tactic = -1;  // PlanOptions::gemm2_tactic
  // The path bf16_experts_path chose for this call (kernel, tactic, rows), for a caller that
  // needed it first (the pipeline decides from it how rows reach GEMM1), so that it is chosen
  // once per call. Unset: run_bf16_experts chooses it.
  std::optional<ExpertsPath> path;
};

// Expert biases always take weight streaming (the grouped path has no bias epilogue). GEMM2 runs
// on GEMM1's tile unless gemm2_tactic (>= 0) forces its own.
ExpertsPath choose_experts_path(const ExpertRows& rows, ExpertKernel requested, int32_t tactic,
                                bool biases, const GroupedTileContext& tile_context,
                                int32_t gemm2_tactic = -1);

// Whether a path's GEMM1 reads x by index (x_slots) under PlanOptions::token_gather: never for
// kCopy; weight streaming always; the grouped tile where ExpertsPath::gemm1_reads_rows_by_index
// says so (kAuto) or wherever the gathering GEMM1 has the tile (kIndex: 64x256, 128x256).
// Elsewhere CUTLASS's TMA loads need the rows gathered first.
bool experts_path_reads_rows_by_index(const ExpertsPath& path, TokenGather gather);

// The path run_bf16_experts takes for these rows on the current device.
ExpertsPath bf16_experts_path(const MoeConfig& moe, const ExpertRows& rows, const ExpertWeights& weights,
                              ExpertKernel requested, int32_t tactic, int32_t gemm2_tactic = -1);

// Why this configuration has no BF16 GPU path (empty when it has one).
std::string bf16_experts_unsupported_reason(const MoeConfig& moe);

// Why these weights cannot run on the BF16 GPU path (empty when they can): checked before any
// launch, since the capability query sees only the configuration.
std::string bf16_weights_unsupported_reason(const ExpertWeights& weights, ExpertKernel requested);

size_t bf16_experts_workspace_bytes(const MoeConfig& moe, int64_t max_rows);

void run_bf16_experts(const MoeConfig& moe, const ExpertWeights& weights, const Bf16ExpertsCall& call,
                      void* workspace, size_t workspace_bytes, Stream stream);

}  // namespace fusedmoe::sm90
