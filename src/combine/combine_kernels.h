// Launcher of the combine kernel (src/combine/sm90_combine.cu); src/combine/combine.cu unpacks the
// validated views of moe_combine into this struct.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace fusedmoe::cuda {

enum class CombineElement : int32_t { kBFloat16 = 0, kFloat16 = 1 };
enum class CombineWeights : int32_t { kNone = 0, kFloat32 = 1, kBFloat16 = 2 };

// Where slot s of token t finds its expert's output row.
enum class CombineRows : int32_t {
  kSlotToRow = 0,  // row slot_to_row[t, s]; < 0 or >= rows contributes nothing
  kSlotOrder = 1,  // row t * top_k + s, present when the slot's id (top_k_ids) is a local
                   // expert: [local_expert_offset, + num_local_experts)
};

struct CombineParams {
  CombineElement element = CombineElement::kBFloat16;  // expert_output, shared_output, output
  const void* expert_output = nullptr;                  // [rows, hidden], 16-byte aligned rows
  int64_t expert_output_row_stride = 0;
  int64_t rows = 0;
  CombineRows slot_rows = CombineRows::kSlotToRow;
  const int32_t* slot_to_row = nullptr;  // kSlotToRow: [num_tokens, top_k]
  int64_t slot_to_row_stride = 0;        // also the ids' row stride (kSlotOrder)
  const void* top_k_ids = nullptr;       // kSlotOrder: [num_tokens, top_k] int32 or int64
  bool top_k_ids_int64 = false;
  int32_t local_expert_offset = 0;  // kSlotOrder
  int32_t num_local_experts = 0;    // kSlotOrder
  CombineWeights weights_dtype = CombineWeights::kNone;  // kNone: rows are already weighted
  const void* topk_weights = nullptr;                    // [num_tokens, top_k]
  int64_t weights_row_stride = 0;
  const void* shared_output = nullptr;  // optional [num_tokens, hidden]
  int64_t shared_row_stride = 0;
  void* output = nullptr;  // [num_tokens, hidden]
  int64_t output_row_stride = 0;
  int32_t num_tokens = 0;
  int32_t top_k = 0;
  int32_t hidden_size = 0;
  float routed_scaling_factor = 1.0f;
};

void launch_combine(const CombineParams& params, cudaStream_t stream);

}  // namespace fusedmoe::cuda
