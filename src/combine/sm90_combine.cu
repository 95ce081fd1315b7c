// Deterministic combine: output[t] = routed_scaling_factor * sum over slots s = 0..top_k-1, in
// order, of w[t, s] * expert_output[slot_to_row[t, s]]  (+ shared_output[t], unscaled).
// fp32 accumulation (one fma per slot, fixed order), one rounding to bf16/fp16 at the end: the
// result is bitwise reproducible run to run, and a token's result does not depend on the batch
// (every token goes through the same code path).
//
// Layout: expert_output [R, H], shared_output / output [M, H] (bf16 or fp16, 16-byte aligned rows);
// slot_to_row int32 [M, top_k] (row < 0 or >= R adds nothing), or, for CombineRows::kSlotOrder,
// the top-k ids with row t * top_k + s for a local expert's slot; topk_weights [M, top_k]
// fp32/bf16 or absent (weight 1).
// Grid: M * ceil(H / 1024) blocks of 128 threads; thread i of chunk c owns columns
// [c * 1024 + 8 i, +8), one 16-byte load per slot, all slots' loads issued before the sums.
//
// NOTES: the bandwidth floor is M * top_k * H * 2 bytes read (+ M * H * 2 written); each slot row
// is read exactly once, with loads for 8 slots in flight per thread.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cstdint>

#include "combine/combine_kernels.h"
#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"

namespace fusedmoe::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kElementsPerThread = 8;
constexpr int kChunkElements = kThreads * kElementsPerThread;
constexpr int kSlotBatch = 8;

__device__ __forceinline__ float to_float(__nv_bfloat16 value) { return __bfloat162float(value); }
__device__ __forceinline__ float to_float(__half value) { return __half2float(value); }
template <typename T>
__device__ __forceinline__ T from_float(float value);
template <>
__device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float value) {
  return __float2bfloat16_rn(value);
}
template <>
__device__ __forceinline__ __half from_float<__half>(float value) {
  return __float2half_rn(value);
}

__device__ __forceinline__ float slot_weight(const CombineParams& p, int64_t token, int slot) {
  switch (p.weights_dtype) {
    case CombineWeights::kFloat32:
      return static_cast<const float*>(p.topk_weights)[token * p.weights_row_stride + slot];
    case CombineWeights::kBFloat16:
      return __bfloat162float(
          static_cast<const __nv_bfloat16*>(p.topk_weights)[token * p.weights_row_stride + slot]);
    case CombineWeights::kNone: break;
  }
  return 1.0f;
}

// The 8 columns at `column` of `row` as raw bits: one 16-byte load, or a partial tail (zeros past
// the end). Kept as bits until the sum so that 8 slots' loads stay in 32 registers.
template <typename T>
__device__ __forceinline__ uint4 load_columns(const T* row, int column, int hidden, bool full) {
  if (full) return __ldg(reinterpret_cast<const uint4*>(row + column));
  uint4 raw = make_uint4(0, 0, 0, 0);
  T* elements = reinterpret_cast<T*>(&raw);
#pragma unroll
  for (int i = 0; i < kElementsPerThread; ++i) {
    if (column + i < hidden) elements[i] = row[column + i];
  }
  return raw;
}

template <typename T>
__global__ void __launch_bounds__(kThreads) combine_kernel(const CombineParams p, int chunks) {
  wait_for_previous_grid();
  allow_next_grid();
  const int64_t token = blockIdx.x / chunks;
  const int column = (blockIdx.x % chunks) * kChunkElements + threadIdx.x * kElementsPerThread;
  if (column >= p.hidden_size) return;
  const bool full = column + kElementsPerThread <= p.hidden_size;
  const T* expert_output = static_cast<const T*>(p.expert_output);

  float sum[kElementsPerThread];
#pragma unroll
  for (int i = 0; i < kElementsPerThread; ++i) sum[i] = 0.0f;

  for (int first = 0; first < p.top_k; first += kSlotBatch) {
    uint4 raw[kSlotBatch];
    float weights[kSlotBatch];
    bool present[kSlotBatch];
#pragma unroll
    for (int b = 0; b < kSlotBatch; ++b) {
      const int slot = first + b;
      int64_t row = -1;
      if (slot < p.top_k) {
        if (p.slot_rows == CombineRows::kSlotOrder) {
          const int64_t index = token * p.slot_to_row_stride + slot;
          const int64_t id = p.top_k_ids_int64 ? static_cast<const int64_t*>(p.top_k_ids)[index]
                                               : static_cast<const int32_t*>(p.top_k_ids)[index];
          const int64_t local = id - p.local_expert_offset;
          row = id >= 0 && local >= 0 && local < p.num_local_experts ? token * p.top_k + slot : -1;
        } else {
          row = p.slot_to_row[token * p.slot_to_row_stride + slot];
        }
      }
      present[b] = row >= 0 && row < p.rows;
      weights[b] = present[b] ? slot_weight(p, token, slot) : 0.0f;
      raw[b] = present[b] ? load_columns<T>(expert_output + row * p.expert_output_row_stride,
                                            column, p.hidden_size, full)
                          : make_uint4(0, 0, 0, 0);
    }
#pragma unroll
    for (int b = 0; b < kSlotBatch; ++b) {
      if (!present[b]) continue;
      const T* elements = reinterpret_cast<const T*>(&raw[b]);
#pragma unroll
      for (int i = 0; i < kElementsPerThread; ++i) {
        sum[i] = fmaf(weights[b], to_float(elements[i]), sum[i]);
      }
    }
  }

  uint4 shared_raw = make_uint4(0, 0, 0, 0);
  if (p.shared_output != nullptr) {
    shared_raw = load_columns<T>(static_cast<const T*>(p.shared_output) + token * p.shared_row_stride,
                                 column, p.hidden_size, full);
  }
  const T* shared = reinterpret_cast<const T*>(&shared_raw);
  alignas(16) T result[kElementsPerThread];
#pragma unroll
  for (int i = 0; i < kElementsPerThread; ++i) {
    float value = p.routed_scaling_factor * sum[i];
    if (p.shared_output != nullptr) value += to_float(shared[i]);
    result[i] = from_float<T>(value);
  }
  T* out = static_cast<T*>(p.output) + token * p.output_row_stride + column;
  if (full) {
    *reinterpret_cast<uint4*>(out) = *reinterpret_cast<const uint4*>(result);
  } else {
#pragma unroll
    for (int i = 0; i < kElementsPerThread; ++i) {
      if (column + i < p.hidden_size) out[i] = result[i];
    }
  }
}

}  // namespace

void launch_combine(const CombineParams& params, cudaStream_t stream) {
  if (params.num_tokens == 0 || params.hidden_size == 0) return;
  const int chunks = static_cast<int>(ceil_div(params.hidden_size, kChunkElements));
  const int64_t blocks = static_cast<int64_t>(params.num_tokens) * chunks;
  if (blocks > 0x7fffffff) throw Error(ErrorKind::kInternal, "fusedmoe: combine grid too large");
  const dim3 grid(static_cast<unsigned>(blocks));
  if (params.element == CombineElement::kBFloat16) {
    launch_kernel("combine_kernel", combine_kernel<__nv_bfloat16>, grid, dim3(kThreads), 0, stream,
                  params, chunks);
  } else {
    launch_kernel("combine_kernel", combine_kernel<__half>, grid, dim3(kThreads), 0, stream, params,
                  chunks);
  }
}

}  // namespace fusedmoe::cuda
