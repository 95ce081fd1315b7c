// Launchers of the dispatch kernels (src/dispatch/*.cu) and the sizes they share. Plain parameter
// structs; src/dispatch/dispatch.cu unpacks the validated views and sequences the launches:
//
//   M * top_k <= kTileSlots:  dispatch_maps_single_tile                       (1 block)
//   otherwise:                expert_tile_histogram -> expert_offsets_scan -> dispatch_maps_scatter
//   permute_rows:             row_to_slot = -1 for every row no slot claims; with
//                             permuted_hidden, token rows gathered (+ quantized), padding rows
//                             zeroed, rows past the last segment left untouched.
//                             Skipped for maps-only single-tile calls with R <= kSingleTileFillRows,
//                             where the maps kernel writes the -1 rows itself (one launch).
// The maps kernels write row_to_slot for token rows only. Every launch uses programmatic dependent
// launch (core/cuda_pdl.cuh).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "fusedmoe/config.h"

namespace fusedmoe::cuda {

// Slots (token * top_k + slot, in order) ranked by one block: 8 warps x 8 chunks x 32 lanes.
constexpr int kDispatchThreads = 256;
constexpr int kDispatchWarps = kDispatchThreads / 32;
constexpr int kChunksPerWarp = 8;
constexpr int kTileSlots = kDispatchWarps * kChunksPerWarp * 32;
// Shared-memory bound of the per-warp expert counters.
constexpr int kMaxDispatchLocalExperts = 1024;

struct DispatchMapsParams {
  const void* topk_ids = nullptr;  // [num_tokens, top_k] int32 or int64, global ids
  bool ids_int64 = false;
  int64_t ids_row_stride = 0;
  int32_t num_tokens = 0;
  int32_t top_k = 0;
  int32_t first_expert = 0;  // local_expert_offset
  int32_t local_experts = 0;
  int32_t row_alignment = 1;

  int32_t* expert_offsets = nullptr;  // [local_experts + 1]
  int32_t* expert_counts = nullptr;   // [local_experts]
  int32_t* row_to_slot = nullptr;     // [rows]: token rows written here, the rest by permute_rows
  int32_t* slot_to_row = nullptr;     // [num_tokens, top_k]
  int64_t slot_to_row_stride = 0;
  // Multi-tile path: [num_tiles, local_experts] per-tile counts, then per-tile first rows.
  int32_t* tile_counts = nullptr;
  // Single-tile maps-only calls with few rows: the maps kernel also writes row_to_slot = -1 for
  // every unused row of [0, fill_rows), so no permute_rows launch is needed (0: it does not).
  int32_t fill_rows = 0;
};

// Largest R for which the single-tile kernel fills the unused rows itself (maps only).
constexpr int64_t kSingleTileFillRows = 32768;

inline int64_t dispatch_num_tiles(int64_t num_slots) {
  return (num_slots + kTileSlots - 1) / kTileSlots;
}
// Workspace bytes of the multi-tile maps path for up to `max_tokens` tokens.
size_t dispatch_workspace_bytes(int64_t max_tokens, int32_t top_k, int32_t local_experts);

void launch_dispatch_maps_single_tile(const DispatchMapsParams& params, cudaStream_t stream);
void launch_expert_tile_histogram(const DispatchMapsParams& params, cudaStream_t stream);
void launch_expert_offsets_scan(const DispatchMapsParams& params, cudaStream_t stream);
void launch_dispatch_maps_scatter(const DispatchMapsParams& params, cudaStream_t stream);

enum class PermuteElement : int32_t { kBFloat16 = 0, kFloat16 = 1 };

struct PermuteRowsParams {
  bool gather = false;           // false: maps only (row_to_slot of unused rows)
  const void* hidden = nullptr;  // [num_tokens, hidden] bf16/fp16, 16-byte aligned rows
  PermuteElement element = PermuteElement::kBFloat16;
  int64_t hidden_row_stride = 0;
  void* permuted = nullptr;  // [rows, hidden]: hidden's dtype, or e4m3 when quantize != kNone
  int64_t permuted_row_stride = 0;
  float* scales = nullptr;  // fp32 [rows, groups] (group128), [rows] (per token), [1] (static)
  int64_t scales_row_stride = 0;
  ActivationQuant quantize = ActivationQuant::kNone;
  ScaleFormat scale_format = ScaleFormat::kFloat32;

  int32_t num_tokens = 0;
  int32_t top_k = 0;
  int32_t hidden_size = 0;
  int32_t rows = 0;
  int32_t local_experts = 0;
  int32_t row_alignment = 1;  // 1: segments have no padding rows, only the tail needs -1s
  const int32_t* expert_offsets = nullptr;  // [local_experts + 1]
  const int32_t* expert_counts = nullptr;   // [local_experts]
  const int32_t* slot_to_row = nullptr;
  int64_t slot_to_row_stride = 0;
  int32_t* row_to_slot = nullptr;
};

void launch_permute_rows(const PermuteRowsParams& params, cudaStream_t stream);

}  // namespace fusedmoe::cuda
