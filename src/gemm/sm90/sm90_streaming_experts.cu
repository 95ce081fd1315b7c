// Weight-streaming expert GEMMs for few tokens per expert (streaming_experts.h says what they
// compute).
//
// Work split: CTA (x, y) takes the y-th local expert that has rows (found by a block-wide scan of
// the per-expert row counts, or of the top-k ids in order of first slot for kTopkIds rows, so the
// grid can be sized without knowing the routing) and one or more consecutive column slices of 64
// weight rows: 32 gate rows plus the matching 32 up rows for a gated GEMM1 (32 output columns),
// else 64 output columns. It walks the expert's rows in tiles of kTokens, streaming its weight
// slices one after another through one kStages-deep cp.async pipeline of 128-element K steps
// (several slices per CTA when K is short, so the pipeline does not drain at every slice).
//
// MMA: mma.sync m16n8k16 bf16 -> fp32 with the weights as A (16 rows per warp) and the tokens as
// B (8 per n-tile). A CTA of 64 weight rows gives each of its 4 warps 16 rows; a CTA of 32 or 16
// rows (used when few experts are active, for more CTAs) splits K between its warps instead.
// Shared-memory rows are 256 bytes with 16-byte chunks XOR-swizzled by row, so the ldmatrix reads
// of 8 rows hit 8 distinct bank groups. In a gated CTA each warp's
// 16 rows are 8 gate rows followed by the 8 up rows of the same features, so every thread holds
// gate and up of the same (feature, token) in its accumulator registers.
//
// Layout assumptions: k % 8 == 0 and out_columns % 8 == 0 (16-byte rows); weights contiguous
// [experts, w_rows, k]; rows of out packed (row stride out_columns); rows of x 16-byte aligned,
// packed or read by index (x_slots).
//
// PDL: GEMM1 waits for the previous grid before reading anything. GEMM2 always follows GEMM1
// (which waited for the routing maps before signalling), so it reads the row counts and starts
// streaming its first weight stages before waiting for GEMM1's activations. Every CTA lets the
// next kernel launch as soon as it knows its expert: once all CTAs of a grid are resident, the
// next kernel's CTAs fill the multiprocessors the grid's last wave leaves idle (GEMM2's with
// their weight prefetch), and they still wait for this grid to complete before reading its output.
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <cub/block/block_scan.cuh>

#include "core/check.h"
#include "core/cuda_pdl.cuh"
#include "core/cuda_shared_memory.h"
#include "core/device_attribute.h"
#include "core/load_scalar.cuh"
#include "gemm/sm90/activation_math.cuh"
#include "gemm/sm90/streaming_experts.h"

namespace fusedmoe::sm90 {
namespace {

constexpr int kWarps = 4;
constexpr int kThreads = kWarps * 32;
constexpr int kWarpRows = 16;                      // one m16 MMA tile per warp
constexpr int kSliceRows = kWarps * kWarpRows;       // weight rows x K slices per stage: 64
constexpr int kSliceK = 128;                         // reduction elements per K slice
constexpr int kChunksPerRow = kSliceK / 8;
constexpr int kRowBytes = kSliceK * 2;
constexpr int kStages = 4;

enum class Epilogue { kGatedActivation, kActivation, kStore };

// A CTA holds kRowGroups x 16 weight rows; its 4 warps split as kRowGroups row groups times
// kSplitK K slices (kRowGroups * kSplitK == 4), so fewer rows per CTA give more CTAs when few
// experts are active, and the K slices are summed through shared memory at the end.
template <int kTokens, int kRowGroups>
struct Shape {
  static constexpr int rows = kRowGroups * kWarpRows;
  static constexpr int split_k = kWarps / kRowGroups;
  static constexpr int stage_k = kSliceK * split_k;
  static constexpr int weight_slice_bytes = rows * kRowBytes;
  static constexpr int token_slice_bytes = kTokens * kRowBytes;
  static constexpr int weight_bytes = split_k * weight_slice_bytes;  // 16 KB
  static constexpr int stage_bytes = weight_bytes + split_k * token_slice_bytes;
  static constexpr int pipeline_bytes = kStages * stage_bytes;
};

template <Epilogue kEpilogue, int kRows>
constexpr int columns_per_cta() {
  return kEpilogue == Epilogue::kGatedActivation ? kRows / 2 : kRows;
}

// Dynamic shared memory: the pipeline, then the epilogue's [kTokens][columns] bf16 tile (rows
// padded by 16 bytes against bank conflicts), apart so that the next column slice's loads stay in
// flight while a slice is stored.
template <Epilogue kEpilogue, int kTokens, int kRowGroups>
struct SharedLayout {
  static constexpr int columns = columns_per_cta<kEpilogue, Shape<kTokens, kRowGroups>::rows>();
  static constexpr int tile_stride = columns + 8;
  static constexpr int bytes = Shape<kTokens, kRowGroups>::pipeline_bytes + kTokens * tile_stride * 2;
};

// ---- PTX wrappers --------------------------------------------------------------------------

__device__ __forceinline__ uint32_t shared_address(const void* pointer) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(pointer));
}

__device__ __forceinline__ uint32_t swizzled(int row, int chunk) {
  return static_cast<uint32_t>(row * kRowBytes + ((chunk ^ (row & 7)) << 4));
}

// 16-byte async copy; an invalid source fills zeros (no global read).
__device__ __forceinline__ void copy_16(uint32_t destination, const void* source, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(destination), "l"(source),
               "r"(valid ? 16 : 0));
}

__device__ __forceinline__ void commit_copies() { asm volatile("cp.async.commit_group;\n" ::); }

template <int kPending>
__device__ __forceinline__ void wait_copies() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

__device__ __forceinline__ void load_matrix_x4(uint32_t (&registers)[4], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(registers[0]), "=r"(registers[1]), "=r"(registers[2]), "=r"(registers[3])
               : "r"(address));
}

__device__ __forceinline__ void load_matrix_x2(uint32_t (&registers)[2], uint32_t address) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x2.shared.b16 {%0, %1}, [%2];\n"
               : "=r"(registers[0]), "=r"(registers[1])
               : "r"(address));
}

__device__ __forceinline__ void mma_bf16(float (&accumulator)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(accumulator[0]), "+f"(accumulator[1]), "+f"(accumulator[2]), "+f"(accumulator[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---- which expert and rows a CTA works on --------------------------------------------------

struct ExpertSlice {
  int32_t expert;
  int64_t row_begin;
  int32_t row_count;
};

constexpr int kMaxTopkSlots = kThreads;  // kTopkIds rows: one slot per thread while listing
static_assert(kMaxTopkSlots == kStreamingMaxTopkSlots, "the header's limit is the listing's");

using ActiveExpertScan = cub::BlockScan<int, kThreads>;
struct ActiveExpertScratch {
  ActiveExpertScan::TempStorage scan;
  int expert;
  int warp_rows[kWarps];
  // kTopkIds: the slots of the CTA's expert, in slot order (its rows 0 .. row_count-1).
  int32_t slot_rows[kMaxTopkSlots];
};

// The rank-th expert (in expert order) with at least one row. Returns false, uniformly across the
// block, when fewer experts have rows.
__device__ bool find_buffer_expert(const ExpertRows& rows, int rank, ExpertSlice& slice,
                                   ActiveExpertScratch& scratch) {
  const int experts_per_thread = (rows.num_experts + kThreads - 1) / kThreads;
  const int first = threadIdx.x * experts_per_thread;
  int active = 0;
  for (int i = 0; i < experts_per_thread; ++i) {
    const int expert = first + i;
    if (expert < rows.num_experts && expert_row_count(rows, expert) > 0) ++active;
  }
  if (threadIdx.x == 0) scratch.expert = -1;
  int before = 0;
  ActiveExpertScan(scratch.scan).ExclusiveSum(active, before);
  __syncthreads();  // orders the -1 above before the one thread that finds the expert writes it
  if (rank >= before && rank < before + active) {
    int seen = before;
    for (int i = 0; i < experts_per_thread; ++i) {
      const int expert = first + i;
      if (expert < rows.num_experts && expert_row_count(rows, expert) > 0) {
        if (seen == rank) {
          scratch.expert = expert;
          break;
        }
        ++seen;
      }
    }
  }
  __syncthreads();
  const int expert = scratch.expert;
  if (expert < 0) return false;
  slice.expert = expert;
  slice.row_begin = expert_first_row(rows, expert);
  slice.row_count = expert_row_count(rows, expert);
  return true;
}

// kTopkIds: the rank-th local expert in order of first slot, and its slots in slot order (into
// scratch.slot_rows), in O(1) steps per thread: a shared first-slot-per-expert table (atomicMin)
// marks the slots that open an expert, a scan ranks them, and ballots place the found expert's
// slots. first_slot: num_experts ints of scratch shared memory (the pipeline's, before its first
// load). Returns false, uniformly, when fewer local experts are in the ids.
__device__ bool find_topk_expert(const ExpertRows& rows, int rank, ExpertSlice& slice,
                                 ActiveExpertScratch& scratch, int32_t* first_slot) {
  const int slot = threadIdx.x;
  const int slots = static_cast<int>(rows.max_rows);
  int expert = -1;
  if (slot < slots) {
    const int64_t id = topk_id(rows, slot);
    const int64_t local = id - rows.local_expert_offset;
    if (id >= 0 && local >= 0 && local < rows.num_experts) expert = static_cast<int>(local);
  }
  for (int e = threadIdx.x; e < rows.num_experts; e += kThreads) first_slot[e] = kMaxTopkSlots;
  if (threadIdx.x == 0) scratch.expert = -1;
  __syncthreads();
  if (expert >= 0) atomicMin(&first_slot[expert], slot);
  __syncthreads();
  const int opens = expert >= 0 && first_slot[expert] == slot ? 1 : 0;
  int before = 0;
  ActiveExpertScan(scratch.scan).ExclusiveSum(opens, before);
  if (opens && before == rank) scratch.expert = expert;
  __syncthreads();
  const int found = scratch.expert;
  if (found < 0) return false;
  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const unsigned mine = __ballot_sync(0xffffffffu, expert == found);
  if (lane == 0) scratch.warp_rows[warp] = __popc(mine);
  __syncthreads();
  int position = __popc(mine & ((1u << lane) - 1u));
  int count = 0;
  for (int w = 0; w < kWarps; ++w) {
    if (w < warp) position += scratch.warp_rows[w];
    count += scratch.warp_rows[w];
  }
  if (expert == found) scratch.slot_rows[position] = slot;
  __syncthreads();
  slice.expert = found;
  slice.row_begin = 0;
  slice.row_count = count;
  return true;
}

// Weight row (within the expert's matrix) held in CTA row `row` (0 .. rows-1) of a CTA whose
// output columns start at column_base; -1 past the matrix. Gated: every 16 rows are 8 gate rows
// then the up rows of the same 8 features, found through params.layout (a checkpoint order, or
// the blocked order prepare_weights makes; the bias is indexed by the same row, in the same order).
template <Epilogue kEpilogue>
__device__ __forceinline__ int64_t weight_row(const StreamingGemmParams& params, int64_t column_base,
                                              int row) {
  if constexpr (kEpilogue == Epilogue::kGatedActivation) {
    const int within_group = row & 15;
    const int64_t feature = column_base + (row >> 4) * 8 + (within_group & 7);
    if (feature >= params.out_columns) return -1;
    const bool up = within_group >= 8;
    return up ? up_row(params.layout, params.out_columns, feature)
              : gate_row(params.layout, params.out_columns, feature);
  } else {
    const int64_t weight = column_base + row;
    return weight < params.w_rows ? weight : -1;
  }
}

// ---- the kernel ----------------------------------------------------------------------------

// kMultiSlice: the CTA takes slices_per_cta column slices (else exactly one: a separate
// instance, so that the common one-slice kernel keeps its straight-line code).
template <int kTokens, int kRowGroups, Epilogue kEpilogue, bool kMultiSlice>
__global__ void __launch_bounds__(kThreads)
    streaming_gemm_kernel(StreamingGemmParams params, int slices_per_cta) {
  static_assert(kTokens == 8 || kTokens % 16 == 0, "token tile: 8 or a multiple of 16");
  using S = Shape<kTokens, kRowGroups>;
  using L = SharedLayout<kEpilogue, kTokens, kRowGroups>;
  constexpr int kNTiles = kTokens / 8;
  constexpr int kColumns = L::columns;
  constexpr int kWeightChunksPerThread = kSliceRows * kChunksPerRow / kThreads;            // 8
  constexpr int kTokenChunksPerThread = S::split_k * kTokens * kChunksPerRow / kThreads;  // >= 1
  constexpr bool kPrefetchWeights = kEpilogue == Epilogue::kStore;

  extern __shared__ __align__(128) unsigned char shared[];
  __shared__ ActiveExpertScratch scratch;

  if constexpr (!kPrefetchWeights) cuda::wait_for_previous_grid();
  static_assert(kMaxExperts * sizeof(int32_t) <= S::pipeline_bytes,
                "the top-k listing's first-slot table fits the pipeline");
  ExpertSlice slice;
  const bool rows_from_ids = params.rows.layout == GroupRows::kTopkIds;
  const bool found = rows_from_ids
                         ? find_topk_expert(params.rows, blockIdx.y, slice, scratch, reinterpret_cast<int32_t*>(shared))
                         : find_buffer_expert(params.rows, blockIdx.y, slice, scratch);
  if (!found) return;
  cuda::allow_next_grid();
  // Row r of the expert: its row of the buffer, or (kTopkIds) its slot.
  const auto buffer_row = [&](int64_t row) -> int64_t { return rows_from_ids ? scratch.slot_rows[row] : row; };

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int row_group = warp % kRowGroups;  // which 16 weight rows
  const int k_slice = warp / kRowGroups;    // which K slice of each stage
  const int64_t k = params.k;
  if constexpr (!kMultiSlice) slices_per_cta = 1;
  const int64_t first_column = static_cast<int64_t>(blockIdx.x) * slices_per_cta * kColumns;
  const int column_slices =
      kMultiSlice ? static_cast<int>(min(static_cast<int64_t>(slices_per_cta),
                                         (params.out_columns - first_column + kColumns - 1) / kColumns))
                  : 1;
  const int num_k_tiles = static_cast<int>((k + S::stage_k - 1) / S::stage_k);
  // The pipeline runs through (column slice, K tile) pairs in order, one slice after another.
  const int num_tiles = column_slices * num_k_tiles;
  const uint32_t shared_base = shared_address(shared);

  // Each thread copies one fixed 16-byte chunk column of 8 (weights) or more (tokens) rows of the
  // stage's slices; slice-row v is row v % rows of K slice v / rows.
  const int copy_chunk = threadIdx.x % kChunksPerRow;
  const int copy_row = threadIdx.x / kChunksPerRow;  // 0..7, then + 8 per step
  const auto* weights = static_cast<const __nv_bfloat16*>(params.w) +
                        static_cast<int64_t>(slice.expert) * params.w_rows * k;
  // Weight rows this thread copies, for the column slice `weight_rows_slice` (loads go through
  // the slices in order, so they are recomputed once per slice).
  const __nv_bfloat16* weight_rows[kWeightChunksPerThread];
  int weight_rows_slice = -1;
  auto locate_weights = [&](int column_slice) {
    const int64_t column_base = first_column + static_cast<int64_t>(column_slice) * kColumns;
#pragma unroll
    for (int i = 0; i < kWeightChunksPerThread; ++i) {
      const int64_t row = weight_row<kEpilogue>(params, column_base, (copy_row + 8 * i) % S::rows);
      weight_rows[i] = row < 0 ? nullptr : weights + row * k;
    }
    weight_rows_slice = column_slice;
  };
  locate_weights(0);
  const auto* x = static_cast<const __nv_bfloat16*>(params.x);
  const int64_t x_row_stride = params.x_row_stride > 0 ? params.x_row_stride : k;

  // Source row of each token row this thread copies, for the current token tile (nullptr: a
  // row past the expert's rows or a padding row, read as zeros).
  const __nv_bfloat16* token_rows[kTokenChunksPerThread];
  auto locate_tokens = [&](int64_t first_row, int tokens) {
#pragma unroll
    for (int i = 0; i < kTokenChunksPerThread; ++i) {
      const int token = (copy_row + 8 * i) % kTokens;
      int64_t source = token < tokens ? buffer_row(first_row + token) : -1;
      if (rows_from_ids) {
        source = source >= 0 ? source / params.x_slots_top_k : -1;
      } else if (source >= 0 && params.x_slots != nullptr) {
        const int32_t slot = params.x_slots[source];
        source = slot >= 0 ? slot / params.x_slots_top_k : -1;
      }
      token_rows[i] = source >= 0 ? x + source * x_row_stride : nullptr;
    }
  };

  // The (column slice, K tile) the next load_stage() fills: loads go through them in order.
  int load_slice = 0;
  int load_k_tile = 0;
  auto load_weights = [&](int stage, int column_slice, int k_tile) {
    if (kMultiSlice && column_slice != weight_rows_slice) locate_weights(column_slice);
    const uint32_t base = shared_base + stage * S::stage_bytes;
#pragma unroll
    for (int i = 0; i < kWeightChunksPerThread; ++i) {
      const int slice_row = copy_row + 8 * i;
      const int part = slice_row / S::rows;
      const int64_t column = static_cast<int64_t>(k_tile) * S::stage_k + part * kSliceK + copy_chunk * 8;
      const bool valid = weight_rows[i] != nullptr && column < k;
      copy_16(base + part * S::weight_slice_bytes + swizzled(slice_row % S::rows, copy_chunk),
              valid ? weight_rows[i] + column : weights, valid);
    }
  };
  auto load_tokens = [&](int stage, int k_tile) {
    const uint32_t base = shared_base + stage * S::stage_bytes + S::weight_bytes;
#pragma unroll
    for (int i = 0; i < kTokenChunksPerThread; ++i) {
      const int slice_row = copy_row + 8 * i;
      const int part = slice_row / kTokens;
      const int token = slice_row % kTokens;
      const int64_t column = static_cast<int64_t>(k_tile) * S::stage_k + part * kSliceK + copy_chunk * 8;
      const bool valid = token_rows[i] != nullptr && column < k;
      copy_16(base + part * S::token_slice_bytes + swizzled(token, copy_chunk),
              valid ? token_rows[i] + column : x, valid);
    }
  };

  // Fills `stage` with the next (slice, K tile): weights, and tokens unless only_weights.
  auto load_stage = [&](int stage, bool only_weights) {
    load_weights(stage, load_slice, load_k_tile);
    if (!only_weights) load_tokens(stage, load_k_tile);
    if (++load_k_tile == num_k_tiles) {
      load_k_tile = 0;
      ++load_slice;
    }
  };

  const int group = lane >> 2;
  const int pair_column = (lane & 3) * 2;
  float accumulators[kNTiles][4];
  auto clear_accumulators = [&]() {
#pragma unroll
    for (int n = 0; n < kNTiles; ++n) {
#pragma unroll
      for (int i = 0; i < 4; ++i) accumulators[n][i] = 0.0f;
    }
  };

  // Accumulators of one column slice -> bf16 tile in shared memory (its own region, so loads of
  // the next slice stay in flight) -> 16-byte rows of out.
  auto store_slice = [&](int column_slice, int64_t first_row, int tokens) {
    const int64_t column_base = first_column + static_cast<int64_t>(column_slice) * kColumns;
    // Accumulator (n, i): weight row row_group*16 + group (+ 8 for i >= 2), token n*8 +
    // pair_column (+ 1 for odd i).
    if constexpr (S::split_k > 1) {
      // Sum the K slices: every warp parks its partial sums in the drained pipeline, the first
      // slice's warps add them up.
      auto* partial = reinterpret_cast<float*>(shared);
      const auto partial_index = [&](int part, int n, int i) {
        const int row = row_group * 16 + group + (i >= 2 ? 8 : 0);
        const int token = n * 8 + pair_column + (i & 1);
        return (part * S::rows + row) * kTokens + token;
      };
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
#pragma unroll
        for (int i = 0; i < 4; ++i) partial[partial_index(k_slice, n, i)] = accumulators[n][i];
      }
      __syncthreads();
      if (k_slice == 0) {
#pragma unroll
        for (int n = 0; n < kNTiles; ++n) {
#pragma unroll
          for (int i = 0; i < 4; ++i) {
#pragma unroll
            for (int part = 1; part < S::split_k; ++part) {
              accumulators[n][i] += partial[partial_index(part, n, i)];
            }
          }
        }
      }
    }

    auto* tile = reinterpret_cast<__nv_bfloat16*>(shared + S::pipeline_bytes);
    if (k_slice == 0) {
      float bias[2] = {0.0f, 0.0f};
      if (params.bias != nullptr) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int64_t row = weight_row<kEpilogue>(params, column_base, row_group * 16 + group + 8 * half);
          if (row >= 0) {
            const int64_t index = static_cast<int64_t>(slice.expert) * params.w_rows + row;
            bias[half] = cuda::load_scalar(params.bias, params.bias_bf16, index);
          }
        }
      }
      const ActivationMath math{params.activation, params.alpha, params.beta, params.clamp_limit};
#pragma unroll
      for (int n = 0; n < kNTiles; ++n) {
        const int token = n * 8 + pair_column;
        const float* c = accumulators[n];
#pragma unroll
        for (int j = 0; j < 2; ++j) {
          // GEMM1's result rounds to bf16 before the activation, as on the grouped path.
          const float first = __bfloat162float(__float2bfloat16_rn(c[j] + bias[0]));
          const float second = __bfloat162float(__float2bfloat16_rn(c[2 + j] + bias[1]));
          __nv_bfloat16* out_row = tile + (token + j) * L::tile_stride;
          if constexpr (kEpilogue == Epilogue::kGatedActivation) {
            // first: gate of feature row_group*8 + group; second: its up.
            out_row[row_group * 8 + group] = __float2bfloat16_rn(math.gated(first, second));
          } else if constexpr (kEpilogue == Epilogue::kActivation) {
            out_row[row_group * 16 + group] = __float2bfloat16_rn(math.single(first));
            out_row[row_group * 16 + group + 8] = __float2bfloat16_rn(math.single(second));
          } else {
            out_row[row_group * 16 + group] = __float2bfloat16_rn(first);
            out_row[row_group * 16 + group + 8] = __float2bfloat16_rn(second);
          }
        }
      }
    }
    __syncthreads();

    constexpr int kOutChunksPerRow = kColumns / 8;
    auto* out = static_cast<__nv_bfloat16*>(params.out);
    for (int index = threadIdx.x; index < tokens * kOutChunksPerRow; index += kThreads) {
      const int token = index / kOutChunksPerRow;
      const int64_t column = column_base + (index % kOutChunksPerRow) * 8;
      if (column >= params.out_columns) continue;
      const int64_t row = buffer_row(first_row + token);
      uint4 values =
          *reinterpret_cast<const uint4*>(tile + token * L::tile_stride + (index % kOutChunksPerRow) * 8);
      if constexpr (kEpilogue == Epilogue::kStore) {
        if (params.row_weights != nullptr) {
          const int64_t weight_index =
              !rows_from_ids && params.row_to_slot != nullptr ? params.row_to_slot[row] : row;
          if (weight_index >= 0) {
            const float weight =
                cuda::load_scalar(params.row_weights, params.row_weights_bf16, weight_index);
            auto* elements = reinterpret_cast<__nv_bfloat16*>(&values);
#pragma unroll
            for (int i = 0; i < 8; ++i) {
              elements[i] = __float2bfloat16_rn(weight * __bfloat162float(elements[i]));
            }
          }
        }
      }
      *reinterpret_cast<uint4*>(out + row * params.out_columns + column) = values;
    }
    __syncthreads();  // the tile is the next slice's
  };

  for (int chunk_start = 0; chunk_start < slice.row_count; chunk_start += kTokens) {
    const int tokens = min(kTokens, slice.row_count - chunk_start);
    const int64_t first_row = slice.row_begin + chunk_start;
    clear_accumulators();
    load_slice = 0;
    load_k_tile = 0;

    if (kPrefetchWeights && chunk_start == 0) {
      // Weights do not depend on the previous kernel: start streaming them before waiting.
      for (int stage = 0; stage < kStages - 1; ++stage) {
        if (stage < num_tiles) load_stage(stage, true);
      }
      cuda::wait_for_previous_grid();
      locate_tokens(first_row, tokens);
      for (int stage = 0; stage < kStages - 1; ++stage) {
        // K tile of this stage: the stages hold tiles 0, 1, 2 of the flattened order.
        if (stage < num_tiles) load_tokens(stage, stage % num_k_tiles);
        commit_copies();
      }
    } else {
      locate_tokens(first_row, tokens);
      for (int stage = 0; stage < kStages - 1; ++stage) {
        if (stage < num_tiles) load_stage(stage, false);
        commit_copies();
      }
    }

    int tile = 0;  // position in the (slice, K tile) order
    for (int column_slice = 0; column_slice < column_slices; ++column_slice) {
      for (int k_tile = 0; k_tile < num_k_tiles; ++k_tile, ++tile) {
        wait_copies<kStages - 2>();
        __syncthreads();
        const int next = tile + kStages - 1;
        if (next < num_tiles) load_stage(next % kStages, false);
        commit_copies();

        const uint32_t stage_base = shared_base + (tile % kStages) * S::stage_bytes;
        const uint32_t weight_base = stage_base + k_slice * S::weight_slice_bytes;
        const uint32_t token_base = stage_base + S::weight_bytes + k_slice * S::token_slice_bytes;
#pragma unroll
        for (int step = 0; step < kSliceK / 16; ++step) {
          uint32_t a[4];
          load_matrix_x4(a, weight_base + swizzled(row_group * 16 + (lane & 7) + ((lane >> 3) & 1) * 8,
                                                   step * 2 + (lane >> 4)));
          if constexpr (kTokens == 8) {
            uint32_t b[2];
            load_matrix_x2(b, token_base + swizzled(lane & 7, step * 2 + ((lane >> 3) & 1)));
            mma_bf16(accumulators[0], a, b[0], b[1]);
          } else {
#pragma unroll
            for (int pair = 0; pair < kNTiles / 2; ++pair) {
              uint32_t b[4];
              load_matrix_x4(b, token_base + swizzled(pair * 16 + (lane & 7) + (lane >> 4) * 8,
                                                      step * 2 + ((lane >> 3) & 1)));
              mma_bf16(accumulators[2 * pair], a, b[0], b[1]);
              mma_bf16(accumulators[2 * pair + 1], a, b[2], b[3]);
            }
          }
        }
      }

      if (column_slice == column_slices - 1) {
        // The last slice of this token tile: drain the pipeline (the split-K sums use it, and
        // the next token tile refills it).
        wait_copies<0>();
        __syncthreads();
      }
      store_slice(column_slice, first_row, tokens);
      clear_accumulators();
    }
  }
}

int multiprocessors() {
  return cuda::device_attribute<cudaDevAttrMultiProcessorCount>("cudaDeviceGetAttribute(multiprocessors)");
}

// CTAs of one kernel instance a multiprocessor holds at once. Shared memory is what bounds them
// (128 threads per CTA use a small share of the register file).
template <Epilogue kEpilogue, int kTokens, int kRowGroups>
int64_t resident_ctas_per_multiprocessor() {
  const int per_multiprocessor = cuda::device_attribute<cudaDevAttrMaxSharedMemoryPerMultiprocessor>(
      "cudaDeviceGetAttribute(shared memory per multiprocessor)");
  const int reserved = cuda::device_attribute<cudaDevAttrReservedSharedMemoryPerBlock>(
      "cudaDeviceGetAttribute(reserved shared memory per block)");
  const int per_cta =
      SharedLayout<kEpilogue, kTokens, kRowGroups>::bytes + static_cast<int>(sizeof(ActiveExpertScratch)) + reserved;
  return std::max(1, per_multiprocessor / per_cta);
}

// Share of a grid's CTA slots, over all its waves, that hold a CTA (1: whole waves).
double wave_occupancy(int64_t ctas, int64_t slots) {
  return static_cast<double>(ctas) / static_cast<double>(cuda::ceil_div(ctas, slots) * slots);
}

// Column slices per CTA: one, unless the reduction is short (a narrow expert's GEMM2: K = 256 is
// two pipeline stages, so a one-slice CTA spends most of its life in its prologue and epilogue)
// and enough CTAs remain for at least 16 waves of 3 per multiprocessor, so that the coarser CTAs
// leave no long last wave. Measured on an H100 (docs/PERF.md): DeepSeek-V3 TP8 (K = 256) M = 256,
// 4 slices: 1066 -> 990 us; but M = 8 (4 waves of 4-slice CTAs) 239 -> 252 us and Qwen3-30B-A3B
// (K = 768) M = 64-256 with 2 slices 4-6 % slower. Only GEMM2 with 64-row CTAs has the
// several-slice instances (GEMM1's K is the hidden size: long).
template <Epilogue kEpilogue>
int column_slices_for(const StreamingGemmParams& params, int row_groups, int64_t ctas) {
  if (kEpilogue != Epilogue::kStore || row_groups != kWarps) return 1;
  const int64_t k_tiles = cuda::ceil_div(params.k, static_cast<int64_t>(kSliceK));
  const int64_t enough = 16 * 3 * static_cast<int64_t>(multiprocessors());
  for (const int slices : {4, 2}) {
    if (slices * k_tiles <= 16 && ctas / slices >= enough) return slices;
  }
  return 1;
}

template <int kTokens, int kRowGroups, Epilogue kEpilogue>
void launch(const StreamingGemmParams& params, cudaStream_t stream) {
  constexpr bool kHasMultiSlice = kEpilogue == Epilogue::kStore && kRowGroups == kWarps;
  constexpr auto* one_slice = streaming_gemm_kernel<kTokens, kRowGroups, kEpilogue, false>;
  constexpr auto* multi_slice = streaming_gemm_kernel<kTokens, kRowGroups, kEpilogue, kHasMultiSlice>;
  constexpr int shared_bytes = SharedLayout<kEpilogue, kTokens, kRowGroups>::bytes;
  cuda::ensure_dynamic_shared_memory<one_slice>(shared_bytes, "streaming_gemm_kernel");
  cuda::ensure_dynamic_shared_memory<multi_slice>(shared_bytes, "streaming_gemm_kernel");
  constexpr int kColumns = SharedLayout<kEpilogue, kTokens, kRowGroups>::columns;
  const int64_t slices = cuda::ceil_div(params.out_columns, static_cast<int64_t>(kColumns));
  const int slices_per_cta =
      !kHasMultiSlice ? 1
      : params.column_slices > 0
          ? params.column_slices
          : column_slices_for<kEpilogue>(params, kRowGroups, slices * params.max_active_experts);
  auto* kernel = slices_per_cta > 1 ? multi_slice : one_slice;
  const dim3 grid(static_cast<unsigned>(cuda::ceil_div(slices, static_cast<int64_t>(slices_per_cta))),
                  static_cast<unsigned>(params.max_active_experts));
  cuda::launch_kernel("streaming_gemm_kernel", kernel, grid, dim3(kThreads), shared_bytes, stream, params,
                      slices_per_cta);
}

// Row groups per CTA: all 4 (64 weight rows) unless that leaves multiprocessors idle for the
// experts that can be active; then 2 or 1, splitting K instead (measured on an H100: splitting
// Qwen3-30B-A3B's 192 CTAs at M = 1 into 384 was slower, 42.9 -> 48.8 us; DeepSeek-V3 TP8's 64
// into 256 faster, 56.8 -> 52.2 us). GEMM1 also takes 2 when its 64-row CTAs would leave the last
// of several waves mostly empty and 32-row CTAs fill their waves better (H100, routed entry:
// DeepSeek-V3 TP8 M = 8, 472 CTAs for 396 slots, 234.9 -> 227.7 us; DeepSeek-V3 M = 1, 512 CTAs,
// 247.8 -> 242.0 us; MiniMax-M2 M = 1, 384 CTAs in one wave, stays: 85.8 us against 88.7 split).
// Only the decode token tiles (8, 16) have the narrow shapes.
template <Epilogue kEpilogue, int kTokens>
int row_groups_for(const StreamingGemmParams& params) {
  const auto ctas = [&](int row_groups) {
    const int64_t columns = kEpilogue == Epilogue::kGatedActivation ? row_groups * 8 : row_groups * 16;
    return cuda::ceil_div(params.out_columns, columns) * params.max_active_experts;
  };
  const int64_t sms = multiprocessors();
  if (ctas(4) >= sms) {
    if constexpr (kEpilogue != Epilogue::kStore) {
      constexpr double kPoorWaves = 0.7;
      const int64_t slots = resident_ctas_per_multiprocessor<kEpilogue, kTokens, 4>() * sms;
      const int64_t split_slots = resident_ctas_per_multiprocessor<kEpilogue, kTokens, 2>() * sms;
      const double occupancy = wave_occupancy(ctas(4), slots);
      if (ctas(4) > slots && occupancy < kPoorWaves && wave_occupancy(ctas(2), split_slots) > occupancy) return 2;
    }
    return 4;
  }
  return ctas(2) >= sms ? 2 : 1;
}

template <Epilogue kEpilogue>
void launch_for_tile(const StreamingGemmParams& params, int token_tile, cudaStream_t stream) {
  if (params.rows.max_rows == 0 || params.max_active_experts == 0) return;
  if (params.rows.layout == GroupRows::kTopkIds && params.rows.max_rows > kMaxTopkSlots) {
    detail::throw_invalid("rows.max_rows (top-k slots the weight-streaming kernels list)",
                          "at most " + std::to_string(kMaxTopkSlots), std::to_string(params.rows.max_rows));
  }
  switch (token_tile) {
    case 8: {
      const int row_groups = row_groups_for<kEpilogue, 8>(params);
      if (row_groups == 1) return launch<8, 1, kEpilogue>(params, stream);
      if (row_groups == 2) return launch<8, 2, kEpilogue>(params, stream);
      return launch<8, 4, kEpilogue>(params, stream);
    }
    case 16: {
      const int row_groups = row_groups_for<kEpilogue, 16>(params);
      if (row_groups == 1) return launch<16, 1, kEpilogue>(params, stream);
      if (row_groups == 2) return launch<16, 2, kEpilogue>(params, stream);
      return launch<16, 4, kEpilogue>(params, stream);
    }
    case 32: return launch<32, 4, kEpilogue>(params, stream);
    default: return launch<64, 4, kEpilogue>(params, stream);
  }
}

}  // namespace

int streaming_token_tile(int64_t expected_rows_per_expert) {
  if (expected_rows_per_expert <= 8) return 8;
  if (expected_rows_per_expert <= 16) return 16;
  if (expected_rows_per_expert <= 32) return 32;
  return 64;
}

void launch_streaming_gemm1(const StreamingGemmParams& params, int token_tile, cudaStream_t stream) {
  if (activation_is_gated(params.activation)) {
    launch_for_tile<Epilogue::kGatedActivation>(params, token_tile, stream);
  } else {
    launch_for_tile<Epilogue::kActivation>(params, token_tile, stream);
  }
}

void launch_streaming_gemm2(const StreamingGemmParams& params, int token_tile, cudaStream_t stream) {
  launch_for_tile<Epilogue::kStore>(params, token_tile, stream);
}

}  // namespace fusedmoe::sm90
