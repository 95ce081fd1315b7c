// The activation between the two expert GEMMs:
//   gated:     a[r, j] = act(gate[r, j], up[r, j])   h: [rows, 2I] bf16  ->  a: [rows, I] bf16
//   non-gated: a[r, j] = act(h[r, j])                h: [rows, I]  bf16  ->  a: [rows, I] bf16
// gate/up columns follow w13's row order (GateUpRows): gate-then-up halves, up-then-gate halves,
// gpt-oss interleaved pairs, or the prepared blocked order (gate of feature c at column
// (c / 128) * 256 + c % 128, its up 128 columns later). Math in fp32; one rounding to bf16 at the
// end (docs/NUMERICS.md).
//
// Layout: one block per row, threads walk the row in 8-column (16-byte) chunks; I % 8 == 0. A
// chunk's 8 features are 8 consecutive gate columns and 8 consecutive up columns in every order
// but interleaved (an aligned chunk never crosses a 128-feature block), so each is one 16-byte load.
#include <cuda_bf16.h>

#include "core/cuda_launch.h"
#include "gemm/sm90/activation_math.cuh"
#include "gemm/sm90/expert_activation.h"

namespace fusedmoe::sm90 {
namespace {

constexpr int kThreads = 128;
constexpr int kChunk = 8;

__device__ inline void load_chunk(const __nv_bfloat16* source, float* values) {
  const uint4 raw = *reinterpret_cast<const uint4*>(source);
  const auto* pairs = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
  for (int i = 0; i < kChunk / 2; ++i) {
    const float2 pair = __bfloat1622float2(pairs[i]);
    values[2 * i] = pair.x;
    values[2 * i + 1] = pair.y;
  }
}

__global__ void __launch_bounds__(kThreads)
    expert_activation_kernel(ExpertActivationParams params) {
  const int64_t row = blockIdx.x;
  if (!row_is_valid(params.rows, row)) return;
  const ActivationMath math{params.activation, params.alpha, params.beta, params.clamp_limit};
  const int64_t inter = params.intermediate_size;
  const __nv_bfloat16* h = static_cast<const __nv_bfloat16*>(params.h) + row * params.h_row_stride;
  __nv_bfloat16* a = static_cast<__nv_bfloat16*>(params.a) + row * inter;

  for (int64_t column = threadIdx.x * kChunk; column < inter; column += kThreads * kChunk) {
    float result[kChunk];
    if (!params.gated) {
      float x[kChunk];
      load_chunk(h + column, x);
#pragma unroll
      for (int i = 0; i < kChunk; ++i) result[i] = math.single(x[i]);
    } else if (params.layout == GateUpRows::kInterleaved) {
      float pairs[2 * kChunk];
      load_chunk(h + 2 * column, pairs);
      load_chunk(h + 2 * column + kChunk, pairs + kChunk);
#pragma unroll
      for (int i = 0; i < kChunk; ++i) result[i] = math.gated(pairs[2 * i], pairs[2 * i + 1]);
    } else {
      float gate[kChunk], up[kChunk];
      load_chunk(h + gate_row(params.layout, inter, column), gate);
      load_chunk(h + up_row(params.layout, inter, column), up);
#pragma unroll
      for (int i = 0; i < kChunk; ++i) result[i] = math.gated(gate[i], up[i]);
    }
    uint4 packed;
    auto* out_pairs = reinterpret_cast<__nv_bfloat162*>(&packed);
#pragma unroll
    for (int i = 0; i < kChunk / 2; ++i) {
      out_pairs[i] = __floats2bfloat162_rn(result[2 * i], result[2 * i + 1]);
    }
    *reinterpret_cast<uint4*>(a + column) = packed;
  }
}

}  // namespace

void launch_expert_activation(const ExpertActivationParams& params, cudaStream_t stream) {
  if (params.rows.max_rows == 0) return;
  expert_activation_kernel<<<static_cast<unsigned>(params.rows.max_rows), kThreads, 0, stream>>>(params);
  cuda::check_launch("expert_activation_kernel");
}

}  // namespace fusedmoe::sm90
