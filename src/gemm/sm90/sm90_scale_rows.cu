// Multiplies rows of a bf16/fp16 buffer by a per-row weight, in place: x[r] = round(w_r · x[r]).
// Used for the router weight where it does not ride in a GEMM epilogue: on the expert input
// (Llama-4, RouterWeightApply::kOnInput) and on modular expert outputs given row_weights.
// w_r = weights[row_to_slot[r]] when a slot map is given (rows whose slot is -1 are left as
// they are), else weights[r]. Weights fp32 or bf16.
//
// Layout: one block per row, 8-element (16-byte) chunks; columns % 8 == 0.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include "core/cuda_launch.h"
#include "core/load_scalar.cuh"
#include "gemm/sm90/scale_rows.h"

namespace fusedmoe::sm90 {
namespace {

constexpr int kThreads = 128;
constexpr int kChunk = 8;

template <typename Element>
__device__ inline float to_float(Element value);
template <>
__device__ inline float to_float(__nv_bfloat16 value) { return __bfloat162float(value); }
template <>
__device__ inline float to_float(__half value) { return __half2float(value); }

template <typename Element>
__device__ inline Element from_float(float value);
template <>
__device__ inline __nv_bfloat16 from_float(float value) { return __float2bfloat16_rn(value); }
template <>
__device__ inline __half from_float(float value) { return __float2half_rn(value); }

template <typename Element>
__global__ void __launch_bounds__(kThreads) scale_rows_kernel(ScaleRowsParams params) {
  const int64_t row = blockIdx.x;
  if (!row_is_valid(params.rows, row)) return;
  int64_t weight_index = row;
  if (params.row_to_slot != nullptr) {
    weight_index = params.row_to_slot[row];
    if (weight_index < 0) return;
  }
  const float weight = cuda::load_scalar(params.weights, params.weights_bf16, weight_index);
  Element* data = static_cast<Element*>(params.data) + row * params.row_stride;
  for (int64_t column = threadIdx.x * kChunk; column < params.columns; column += kThreads * kChunk) {
    uint4 raw = *reinterpret_cast<const uint4*>(data + column);
    auto* values = reinterpret_cast<Element*>(&raw);
#pragma unroll
    for (int i = 0; i < kChunk; ++i) values[i] = from_float<Element>(weight * to_float(values[i]));
    *reinterpret_cast<uint4*>(data + column) = raw;
  }
}

}  // namespace

void launch_scale_rows(const ScaleRowsParams& params, cudaStream_t stream) {
  if (params.rows.max_rows == 0) return;
  const unsigned blocks = static_cast<unsigned>(params.rows.max_rows);
  if (params.half) {
    scale_rows_kernel<__half><<<blocks, kThreads, 0, stream>>>(params);
  } else {
    scale_rows_kernel<__nv_bfloat16><<<blocks, kThreads, 0, stream>>>(params);
  }
  cuda::check_launch("scale_rows_kernel");
}

}  // namespace fusedmoe::sm90
