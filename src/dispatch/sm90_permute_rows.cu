// Permuted hidden rows of a dispatch: the rows of the segments, [0, expert_offsets[E_l]), of
// permuted_hidden [R, H] are written; the tail past them is left untouched (nothing reads it).
//  * Token rows: the hidden row of token t (bf16/fp16 [M, H]) copied to each of its local rows
//    slot_to_row[t, s] >= 0, or quantized to e4m3 on the way:
//      kFP8Group128   one fp32 scale per 1x128 group: scales [R, ceil(H/128)]
//      kFP8PerToken   one fp32 scale per row:         scales [R]
//      kFP8PerTensor  the static scale scales[0] (an input; nothing is written to scales)
//    Dynamic scales are amax / 448 (1 for an all-zero group, at least the smallest subnormal),
//    rounded up to a power of two with ScaleFormat::kUE8M0; codes are e4m3(x / scale), round to
//    nearest even, saturating (cvt.rn.satfinite), exactly like reference::quantize_fp8_groups.
//  * Padding rows (a segment's rows past its count, found from expert_offsets and expert_counts):
//    row_to_slot = -1, zeros, and scale 1 for dynamic FP8 (a GEMM tile may read them).
//  * Tail rows (from expert_offsets[E_l] on): row_to_slot = -1 only.
//    Without permuted_hidden (maps only) the kernel writes just the -1 entries.
//
// Grid: [M * C token blocks][Z zero blocks], C = ceil(H / 1024) chunks per row (1 for per-token
// quantization, whose scale needs the whole row), Z from R only: graph-safe.
// Token block: 128 threads x 8 consecutive elements (one 16-byte load); a 1x128 group is 16
// threads, reduced with shuffles. The token row is read once and written top_k times.
// Zero block: one thread per tail row for its -1; the padding rows are numbered through a
// block-wide scan of the per-expert padding (shared memory) and dealt out over every zero block,
// a thread per -1 and a warp per zeroed row, so a few padding rows of a large buffer do not queue
// on one block. Blocks past the padding work exit right after the tail.
//
// NOTES: rows are 16-byte aligned (validation: Memory::kVectorRows), so 8 elements at a multiple
// of 8 are one aligned vector; only a row tail with H % 8 != 0 goes element by element.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <cub/block/block_scan.cuh>

#include "core/cuda_launch.h"
#include "core/cuda_pdl.cuh"
#include "core/prefix_search.cuh"
#include "dispatch/dispatch_kernels.h"

namespace fusedmoe::cuda {
namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr int kElementsPerThread = 8;
constexpr int kChunkElements = kThreads * kElementsPerThread;
constexpr int kGroup = 128;
constexpr int kThreadsPerGroup = kGroup / kElementsPerThread;
constexpr int kMaxSlots = 32;
constexpr int kMaxZeroBlocks = 1024;
constexpr float kE4M3Max = 448.0f;
constexpr float kSmallestSubnormal = 1.40129846e-45f;

__device__ __forceinline__ float to_float(__nv_bfloat16 value) { return __bfloat162float(value); }
__device__ __forceinline__ float to_float(__half value) { return __half2float(value); }

// Scale of one dynamically quantized group (reference/quantize.cpp fp8_scale).
__device__ __forceinline__ float dynamic_scale(float amax, ScaleFormat format) {
  if (amax == 0.0f) return 1.0f;
  float scale = amax / kE4M3Max;
  if (isfinite(scale)) {
    scale = fmaxf(scale, kSmallestSubnormal);
    if (format == ScaleFormat::kUE8M0) {
      int exponent = 0;
      const float fraction = frexpf(scale, &exponent);
      int power = (fraction == 0.5f ? exponent - 1 : exponent) + 127;
      power = min(max(power, 0), 254);
      scale = ldexpf(1.0f, power - 127);
    }
  }
  return scale;
}

__device__ __forceinline__ uint2 to_e4m3x8(const float (&values)[kElementsPerThread], float scale) {
  uint32_t words[2];
#pragma unroll
  for (int w = 0; w < 2; ++w) {
    const __nv_fp8x2_storage_t low = __nv_cvt_float2_to_fp8x2(
        make_float2(values[4 * w] / scale, values[4 * w + 1] / scale), __NV_SATFINITE, __NV_E4M3);
    const __nv_fp8x2_storage_t high = __nv_cvt_float2_to_fp8x2(
        make_float2(values[4 * w + 2] / scale, values[4 * w + 3] / scale), __NV_SATFINITE,
        __NV_E4M3);
    words[w] = static_cast<uint32_t>(low) | (static_cast<uint32_t>(high) << 16);
  }
  return make_uint2(words[0], words[1]);
}

// Loads elements [column, column + 8) of a row (zeros past the end); `raw` keeps the bits for
// the unquantized copy.
template <typename T>
__device__ __forceinline__ bool load_eight(const T* row, int column, int hidden, uint4& raw,
                                           float (&values)[kElementsPerThread]) {
  if (column + kElementsPerThread <= hidden) {
    raw = *reinterpret_cast<const uint4*>(row + column);
    const T* elements = reinterpret_cast<const T*>(&raw);
#pragma unroll
    for (int i = 0; i < kElementsPerThread; ++i) values[i] = to_float(elements[i]);
    return true;
  }
#pragma unroll
  for (int i = 0; i < kElementsPerThread; ++i) {
    values[i] = column + i < hidden ? to_float(row[column + i]) : 0.0f;
  }
  return false;
}

__device__ __forceinline__ float abs_max(const float (&values)[kElementsPerThread]) {
  float amax = 0.0f;
#pragma unroll
  for (int i = 0; i < kElementsPerThread; ++i) amax = fmaxf(amax, fabsf(values[i]));
  return amax;  // fmaxf drops NaN, like the reference's std::max
}

// Rows of token `token` (shared, -1 for slots that are not local), loaded by the first top_k
// threads. Block-wide.
__device__ __forceinline__ void load_destinations(const PermuteRowsParams& p, int64_t token,
                                                  int* rows) {
  if (threadIdx.x < p.top_k) {
    const int row = p.slot_to_row[token * p.slot_to_row_stride + threadIdx.x];
    rows[threadIdx.x] = (row >= 0 && row < p.rows) ? row : -1;
  }
  __syncthreads();
}

// Writes 8 elements (raw bits or e4m3 codes) at `column` of every destination row.
template <typename T>
__device__ __forceinline__ void store_to_rows(const PermuteRowsParams& p, const int* rows,
                                              const T* source, int column, bool full_vector,
                                              const uint4& raw, const uint2& codes) {
  const bool quantized = p.quantize != ActivationQuant::kNone;
  for (int s = 0; s < p.top_k; ++s) {
    const int64_t row = rows[s];
    if (row < 0) continue;
    if (quantized) {
      uint8_t* out = static_cast<uint8_t*>(p.permuted) + row * p.permuted_row_stride + column;
      if (full_vector) {
        *reinterpret_cast<uint2*>(out) = codes;
      } else {
        const uint8_t* bytes = reinterpret_cast<const uint8_t*>(&codes);
#pragma unroll
        for (int i = 0; i < kElementsPerThread; ++i) {
          if (column + i < p.hidden_size) out[i] = bytes[i];
        }
      }
    } else {
      T* out = static_cast<T*>(p.permuted) + row * p.permuted_row_stride + column;
      if (full_vector) {
        *reinterpret_cast<uint4*>(out) = raw;
      } else {
#pragma unroll
        for (int i = 0; i < kElementsPerThread; ++i) {
          if (column + i < p.hidden_size) out[i] = source[column + i];
        }
      }
    }
  }
}

// Token block for kNone / kFP8Group128 / kFP8PerTensor: 1024 columns of one token.
template <typename T>
__device__ void permute_token_chunk(const PermuteRowsParams& p, int64_t token, int chunk) {
  __shared__ int rows[kMaxSlots];
  load_destinations(p, token, rows);
  const T* source = static_cast<const T*>(p.hidden) + token * p.hidden_row_stride;
  const int column = chunk * kChunkElements + threadIdx.x * kElementsPerThread;
  const bool in_row = column < p.hidden_size;
  uint4 raw = make_uint4(0, 0, 0, 0);
  float values[kElementsPerThread] = {};
  bool full_vector = false;
  if (in_row) full_vector = load_eight<T>(source, column, p.hidden_size, raw, values);

  float scale = 1.0f;
  if (p.quantize == ActivationQuant::kFP8Group128) {
    // Threads past H hold zeros and still take part: the 16-lane butterfly needs every lane.
    float amax = abs_max(values);
#pragma unroll
    for (int offset = kThreadsPerGroup / 2; offset > 0; offset >>= 1) {
      amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
    }
    scale = dynamic_scale(amax, p.scale_format);
  } else if (p.quantize == ActivationQuant::kFP8PerTensor) {
    scale = p.scales[0];
  }
  if (!in_row) return;
  const uint2 codes =
      p.quantize != ActivationQuant::kNone ? to_e4m3x8(values, scale) : make_uint2(0, 0);
  store_to_rows<T>(p, rows, source, column, full_vector, raw, codes);
  if (p.quantize == ActivationQuant::kFP8Group128 && threadIdx.x % kThreadsPerGroup == 0) {
    for (int s = 0; s < p.top_k; ++s) {
      if (rows[s] >= 0) p.scales[rows[s] * p.scales_row_stride + column / kGroup] = scale;
    }
  }
}

// Token block for kFP8PerToken: the whole row (two passes: amax, then quantize from cache).
template <typename T>
__device__ void permute_token_row_per_token(const PermuteRowsParams& p, int64_t token) {
  __shared__ int rows[kMaxSlots];
  __shared__ float warp_amax[kWarps];
  load_destinations(p, token, rows);
  const T* source = static_cast<const T*>(p.hidden) + token * p.hidden_row_stride;
  float amax = 0.0f;
  for (int column = threadIdx.x * kElementsPerThread; column < p.hidden_size;
       column += kChunkElements) {
    uint4 raw;
    float values[kElementsPerThread];
    load_eight<T>(source, column, p.hidden_size, raw, values);
    amax = fmaxf(amax, abs_max(values));
  }
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) {
    amax = fmaxf(amax, __shfl_xor_sync(0xffffffffu, amax, offset));
  }
  if (threadIdx.x % 32 == 0) warp_amax[threadIdx.x / 32] = amax;
  __syncthreads();
  amax = warp_amax[0];
#pragma unroll
  for (int w = 1; w < kWarps; ++w) amax = fmaxf(amax, warp_amax[w]);
  const float scale = dynamic_scale(amax, p.scale_format);
  for (int column = threadIdx.x * kElementsPerThread; column < p.hidden_size;
       column += kChunkElements) {
    uint4 raw;
    float values[kElementsPerThread];
    const bool full_vector = load_eight<T>(source, column, p.hidden_size, raw, values);
    store_to_rows<T>(p, rows, source, column, full_vector, raw, to_e4m3x8(values, scale));
  }
  if (threadIdx.x < p.top_k && rows[threadIdx.x] >= 0) {
    p.scales[static_cast<int64_t>(rows[threadIdx.x]) * p.scales_row_stride] = scale;
  }
}

// Padding rows of this block's view, staged in shared memory: first_row[e] = offsets[e] +
// counts[e] (expert e's first padding row) and start[e] = padding rows of experts < e, so
// start[E_l] is the total. One block-wide scan: each thread sums a run of consecutive experts.
__device__ void stage_padding(const PermuteRowsParams& p, int32_t* first_row, int32_t* start) {
  using PaddingScan = cub::BlockScan<int32_t, kThreads>;
  __shared__ typename PaddingScan::TempStorage scan_storage;
  const int per_thread = (p.local_experts + kThreads - 1) / kThreads;
  const int begin = min(static_cast<int>(threadIdx.x) * per_thread, p.local_experts);
  const int end = min(begin + per_thread, p.local_experts);
  int32_t sum = 0;
  for (int e = begin; e < end; ++e) {
    first_row[e] = p.expert_offsets[e] + p.expert_counts[e];
    sum += p.expert_offsets[e + 1] - first_row[e];
  }
  int32_t prefix = 0;
  PaddingScan(scan_storage).ExclusiveSum(sum, prefix);
  for (int e = begin; e < end; ++e) {
    start[e] = prefix;
    prefix += p.expert_offsets[e + 1] - first_row[e];
  }
  if (threadIdx.x == kThreads - 1) start[p.local_experts] = prefix;  // the last run ends at E_l
  __syncthreads();
}

// Row of padding row number `index` (< start[E_l]): the expert is the last e with
// start[e] <= index; experts without padding share their start with the next one and are skipped.
__device__ __forceinline__ int64_t padding_row(const int32_t* first_row, const int32_t* start,
                                               int local_experts, int32_t index) {
  const int expert = cuda::last_run_at_or_below(start, local_experts, index);
  return static_cast<int64_t>(first_row[expert]) + (index - start[expert]);
}

// Zero block: row_to_slot = -1 for every row no slot claims and, when gathering, zeros (scale 1
// for dynamic FP8) in the padding rows of the segments. Rows from offsets[E_l] on (the tail) get
// only their -1: one coalesced int per thread, nothing else. Padding work is indexed by padding
// row, not by buffer row, so it spreads over all zero blocks however few rows it is: -1 entries a
// thread each, zeroed rows a warp each (16-byte stores). Blocks with no padding row to take exit
// before staging anything.
__device__ void write_unused_rows(const PermuteRowsParams& p, int zero_block, int zero_blocks,
                                  int element_bytes) {
  const int64_t segment_rows = p.expert_offsets[p.local_experts];
  const int64_t threads = static_cast<int64_t>(zero_blocks) * kThreads;
  const int64_t thread = static_cast<int64_t>(zero_block) * kThreads + threadIdx.x;
  for (int64_t row = segment_rows + thread; row < p.rows; row += threads) p.row_to_slot[row] = -1;
  // Padding rows number at most segment_rows, and none exist with row_alignment 1.
  const int64_t first_warp = static_cast<int64_t>(zero_block) * kWarps;
  if (p.row_alignment == 1 || first_warp >= segment_rows) return;

  __shared__ int32_t first_row[kMaxDispatchLocalExperts];
  __shared__ int32_t start[kMaxDispatchLocalExperts + 1];
  stage_padding(p, first_row, start);
  const int32_t padding_rows = start[p.local_experts];
  for (int64_t i = thread; i < padding_rows; i += threads) {
    p.row_to_slot[padding_row(first_row, start, p.local_experts, static_cast<int32_t>(i))] = -1;
  }
  if (!p.gather) return;

  const int lane = threadIdx.x % 32;
  const int64_t row_bytes = static_cast<int64_t>(p.hidden_size) * element_bytes;
  const int64_t stride_bytes = p.permuted_row_stride * element_bytes;
  const int64_t vectors = row_bytes / 16;
  const int scale_groups = (p.hidden_size + kGroup - 1) / kGroup;
  const int64_t warps = static_cast<int64_t>(zero_blocks) * kWarps;
  for (int64_t i = first_warp + threadIdx.x / 32; i < padding_rows; i += warps) {
    const int64_t row = padding_row(first_row, start, p.local_experts, static_cast<int32_t>(i));
    uint8_t* out = static_cast<uint8_t*>(p.permuted) + row * stride_bytes;
    for (int64_t v = lane; v < vectors; v += 32) {
      reinterpret_cast<uint4*>(out)[v] = make_uint4(0, 0, 0, 0);
    }
    for (int64_t b = vectors * 16 + lane; b < row_bytes; b += 32) out[b] = 0;
    if (p.quantize == ActivationQuant::kFP8Group128) {
      for (int g = lane; g < scale_groups; g += 32) p.scales[row * p.scales_row_stride + g] = 1.0f;
    } else if (p.quantize == ActivationQuant::kFP8PerToken && lane == 0) {
      p.scales[row * p.scales_row_stride] = 1.0f;
    }
  }
}

template <typename T>
__global__ void __launch_bounds__(kThreads) permute_rows_kernel(const PermuteRowsParams p,
                                                                int chunks_per_token,
                                                                int token_blocks) {
  wait_for_previous_grid();
  allow_next_grid();
  const int block = blockIdx.x;
  if (block < token_blocks) {
    const int64_t token = block / chunks_per_token;
    if (p.quantize == ActivationQuant::kFP8PerToken) {
      permute_token_row_per_token<T>(p, token);
    } else {
      permute_token_chunk<T>(p, token, block % chunks_per_token);
    }
    return;
  }
  const int element_bytes = p.quantize != ActivationQuant::kNone ? 1 : 2;
  write_unused_rows(p, block - token_blocks, gridDim.x - token_blocks, element_bytes);
}

}  // namespace

void launch_permute_rows(const PermuteRowsParams& params, cudaStream_t stream) {
  const int chunks_per_token = params.quantize == ActivationQuant::kFP8PerToken
                                   ? 1
                                   : static_cast<int>(ceil_div(params.hidden_size, kChunkElements));
  const int64_t token_blocks =
      params.gather ? static_cast<int64_t>(params.num_tokens) * chunks_per_token : 0;
  const int64_t zero_blocks =
      std::min<int64_t>(kMaxZeroBlocks, std::max<int64_t>(1, ceil_div(params.rows, kThreads)));
  const int64_t blocks = token_blocks + zero_blocks;
  if (blocks > 0x7fffffff) {
    throw Error(ErrorKind::kInternal, "fusedmoe: permute_rows grid too large");
  }
  const dim3 grid(static_cast<unsigned>(blocks));
  if (params.element == PermuteElement::kBFloat16) {
    launch_kernel("permute_rows_kernel", permute_rows_kernel<__nv_bfloat16>, grid, dim3(kThreads),
                  0, stream, params, chunks_per_token, static_cast<int>(token_blocks));
  } else {
    launch_kernel("permute_rows_kernel", permute_rows_kernel<__half>, grid, dim3(kThreads), 0,
                  stream, params, chunks_per_token, static_cast<int>(token_blocks));
  }
}

}  // namespace fusedmoe::cuda
