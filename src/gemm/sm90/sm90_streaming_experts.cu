// Weight-streaming expert GEMMs for few tokens per expert (streaming_experts.h says what they
// compute).
//
// Work split: the work is cut into units (one expert, one token tile of kTokens of its rows, one
// column slice of 64 weight rows: 32 gate rows plus the matching 32 up rows for a gated GEMM1,
// else 64 output columns; 32 or 16 rows when few experts are active). The grid is persistent:
// as many CTAs as fit on the GPU at once. Every CTA lists the experts with rows (a block-wide
// scan of the per-expert row counts, or of the top-k ids for kTopkIds rows, so the grid is sized
// without knowing the routing), takes an equal contiguous share of the units and streams them
// through one kStages-deep cp.async pipeline of 128-element K steps that never drains between
// units: each unit's epilogue runs while the next unit's first stages are in flight.
//
// MMA: mma.sync m16n8k16 bf16 -> fp32 with the weights as A (16 rows per warp) and the tokens as
// B (8 per n-tile). A unit of 64 weight rows gives each of the CTA's 4 warps 16 rows; a unit of
// 32 or 16 rows splits K between the warps instead (summed through shared memory per unit).
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
// streaming its first weight stages before waiting for GEMM1's activations. Both let the next
// grid launch once their prologue is issued.
#include <cuda_bf16.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <cub/block/block_scan.cuh>

#include "core/check.h"
#include "core/cuda_pdl.cuh"
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

// Dynamic shared memory: the pipeline; the epilogue's [kTokens][columns] bf16 tile (rows padded
// by 16 bytes against bank conflicts); the split-K partial sums. The last two lie apart from the
// pipeline so that the next unit's loads stay in flight while a unit is stored. The listing
// scratch borrows the pipeline before its first load.
template <Epilogue kEpilogue, int kTokens, int kRowGroups>
struct SharedLayout {
  using S = Shape<kTokens, kRowGroups>;
  static constexpr int columns = columns_per_cta<kEpilogue, S::rows>();
  static constexpr int tile_stride = columns + 8;
  static constexpr int tile_offset = S::pipeline_bytes;
  static constexpr int partial_offset = tile_offset + kTokens * tile_stride * 2;
  static constexpr int partial_bytes = S::split_k > 1 ? S::split_k * S::rows * kTokens * 4 : 0;
  static constexpr int bytes = partial_offset + partial_bytes;
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

// ---- the work list: the experts with rows, cut into units ----------------------------------
//
// A unit is one column slice of one token tile of one expert. Every CTA lists the experts with
// rows (a block-wide scan of the row counts, or of the top-k ids) and takes an equal share of the
// units in (expert, slice, token tile) order, streaming them through one pipeline: the grid is
// sized to the resident CTAs, not to the routing, and no multiprocessor gets a whole unit more
// than another beyond rounding.

constexpr int kMaxTopkSlots = kThreads;  // kTopkIds rows: one slot per thread while listing
static_assert(kMaxTopkSlots == kStreamingMaxTopkSlots, "the header's limit is the listing's");
static_assert(kMaxExperts % kThreads == 0, "experts split evenly over the listing threads");

using WorkScan = cub::BlockScan<unsigned long long, kThreads>;

// Chunk c is thread c's experts (kOffsets / kMasked: experts [c * per_thread, +per_thread)) or the
// c-th expert with rows in first-slot order (kTopkIds).
struct WorkList {
  int32_t chunks;
  int32_t units;
  int32_t chunk_unit_end[kThreads];  // units of chunks 0..c
  // kTopkIds: per chunk (one expert), and the slots of every chunk's rows, chunk after chunk.
  int32_t topk_expert[kMaxTopkSlots];
  int32_t topk_first_row[kMaxTopkSlots];
  int32_t topk_row_count[kMaxTopkSlots];
  int32_t topk_slot_rows[kMaxTopkSlots];
};

// Listing scratch, in the pipeline's shared memory before the first load.
struct ListScratch {
  WorkScan::TempStorage scan;
  int32_t slot_expert[kMaxTopkSlots];
  int32_t chunk_of_slot[kMaxTopkSlots];
};

template <int kTokens>
__device__ __forceinline__ int32_t units_for_rows(int32_t rows, int32_t slices) {
  return (rows + kTokens - 1) / kTokens * slices;
}

__device__ __forceinline__ int experts_per_thread(const ExpertRows& rows) {
  return (rows.num_experts + kThreads - 1) / kThreads;
}

// kOffsets / kMasked: each thread's experts are one chunk.
template <int kTokens>
__device__ void list_buffer_experts(const ExpertRows& rows, int32_t slices, WorkList& list,
                                    ListScratch& scratch) {
  const int per_thread = experts_per_thread(rows);
  const int first = threadIdx.x * per_thread;
  unsigned long long units = 0;
  for (int i = 0; i < per_thread; ++i) {
    const int expert = first + i;
    if (expert < rows.num_experts) units += units_for_rows<kTokens>(expert_row_count(rows, expert), slices);
  }
  unsigned long long before = 0, total = 0;
  WorkScan(scratch.scan).InclusiveSum(units, before, total);
  list.chunk_unit_end[threadIdx.x] = static_cast<int32_t>(before);
  if (threadIdx.x == 0) {
    list.chunks = kThreads;
    list.units = static_cast<int32_t>(total);
  }
  __syncthreads();
}

// kTopkIds: slot s (thread s) reads its id; the first slot of each local expert becomes a chunk,
// and every slot finds its place among its expert's rows by counting the earlier slots with the
// same expert.
template <int kTokens>
__device__ void list_topk_experts(const ExpertRows& rows, int32_t slices, WorkList& list,
                                  ListScratch& scratch) {
  const int slot = threadIdx.x;
  const int slots = static_cast<int>(rows.max_rows);
  int expert = -1;
  if (slot < slots) {
    const int32_t id = rows.topk_ids[(slot / rows.top_k) * rows.topk_ids_row_stride + slot % rows.top_k];
    const int64_t local = static_cast<int64_t>(id) - rows.local_expert_offset;
    if (id >= 0 && local >= 0 && local < rows.num_experts) expert = static_cast<int>(local);
  }
  scratch.slot_expert[slot] = expert;
  __syncthreads();
  int count = 0, position = 0, first_slot = slot;
  if (expert >= 0) {
    for (int other = 0; other < slots; ++other) {
      if (scratch.slot_expert[other] != expert) continue;
      if (other < slot) {
        if (position == 0) first_slot = other;
        ++position;
      }
      ++count;
    }
  }
  const bool opens_chunk = expert >= 0 && position == 0;
  // One scan of three fields: chunks (bits 48..63), rows (32..47), units (0..31).
  const unsigned long long mine =
      opens_chunk ? (1ull << 48) | (static_cast<unsigned long long>(count) << 32) |
                        static_cast<unsigned long long>(units_for_rows<kTokens>(count, slices))
                  : 0ull;
  unsigned long long before = 0, total = 0;
  WorkScan(scratch.scan).ExclusiveSum(mine, before, total);
  if (opens_chunk) {
    const int chunk = static_cast<int>(before >> 48);
    list.topk_expert[chunk] = expert;
    list.topk_first_row[chunk] = static_cast<int32_t>((before >> 32) & 0xffff);
    list.topk_row_count[chunk] = count;
    list.chunk_unit_end[chunk] = static_cast<int32_t>((before + mine) & 0xffffffffull);
    scratch.chunk_of_slot[slot] = chunk;
  }
  if (threadIdx.x == 0) {
    list.chunks = static_cast<int32_t>(total >> 48);
    list.units = static_cast<int32_t>(total & 0xffffffffull);
  }
  __syncthreads();
  if (expert >= 0) {
    const int chunk = scratch.chunk_of_slot[first_slot];
    list.topk_slot_rows[list.topk_first_row[chunk] + position] = slot;
  }
  __syncthreads();
}

// One unit: expert, output columns from column_base, rows [row_offset, row_offset + tokens) of
// the expert's rows; chunk locates them (listed_row).
struct Unit {
  int32_t chunk;
  int32_t expert;
  int32_t row_offset;
  int32_t tokens;
  int64_t column_base;
};

template <int kTokens>
__device__ Unit locate_unit(const WorkList& list, const ExpertRows& rows, int32_t unit, int32_t slices,
                            int columns) {
  int low = 0, high = list.chunks - 1;
  while (low < high) {
    const int middle = (low + high) / 2;
    if (list.chunk_unit_end[middle] > unit) high = middle; else low = middle + 1;
  }
  int32_t begin = low > 0 ? list.chunk_unit_end[low - 1] : 0;
  Unit found{low, 0, 0, 0, 0};
  int32_t count = 0;
  if (rows.layout == GroupRows::kTopkIds) {
    found.expert = list.topk_expert[low];
    count = list.topk_row_count[low];
  } else {
    const int per_thread = experts_per_thread(rows);
    for (int expert = low * per_thread;; ++expert) {
      count = expert_row_count(rows, expert);
      const int32_t units = units_for_rows<kTokens>(count, slices);
      if (unit < begin + units) {
        found.expert = expert;
        break;
      }
      begin += units;
    }
  }
  const int32_t tiles = (count + kTokens - 1) / kTokens;
  const int32_t within = unit - begin;
  found.column_base = static_cast<int64_t>(within / tiles) * columns;
  found.row_offset = (within % tiles) * kTokens;
  found.tokens = min(kTokens, count - found.row_offset);
  return found;
}

// Row `row` of a unit's expert: where its input is (x row, -1 reads zeros), where its output goes
// and which router weight it takes.
struct RowPlace {
  int64_t source;
  int64_t out;
  int64_t weight;
};

__device__ __forceinline__ RowPlace listed_row(const WorkList& list, const StreamingGemmParams& params,
                                               const Unit& unit, int32_t row) {
  if (params.rows.layout == GroupRows::kTopkIds) {
    const int64_t slot = list.topk_slot_rows[list.topk_first_row[unit.chunk] + row];
    return {slot / params.x_slots_top_k, slot, slot};
  }
  const int64_t buffer_row = expert_first_row(params.rows, unit.expert) + row;
  int64_t source = buffer_row;
  if (params.x_slots != nullptr) {
    const int32_t slot = params.x_slots[buffer_row];
    source = slot >= 0 ? slot / params.x_slots_top_k : -1;
  }
  const int64_t weight = params.row_to_slot != nullptr ? params.row_to_slot[buffer_row] : buffer_row;
  return {source, buffer_row, weight};
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

template <int kTokens, int kRowGroups, Epilogue kEpilogue>
__global__ void __launch_bounds__(kThreads) streaming_gemm_kernel(StreamingGemmParams params) {
  static_assert(kTokens == 8 || kTokens % 16 == 0, "token tile: 8 or a multiple of 16");
  using S = Shape<kTokens, kRowGroups>;
  using L = SharedLayout<kEpilogue, kTokens, kRowGroups>;
  static_assert(sizeof(ListScratch) <= S::pipeline_bytes, "listing scratch fits the pipeline");
  constexpr int kNTiles = kTokens / 8;
  constexpr int kColumns = L::columns;
  constexpr int kWeightChunksPerThread = kSliceRows * kChunksPerRow / kThreads;            // 8
  constexpr int kTokenChunksPerThread = S::split_k * kTokens * kChunksPerRow / kThreads;  // >= 1
  constexpr bool kPrefetchWeights = kEpilogue == Epilogue::kStore;

  extern __shared__ __align__(128) unsigned char shared[];
  __shared__ WorkList list;
  __shared__ int64_t unit_out_rows[kTokens];
  __shared__ float unit_row_weights[kTokens];

  if constexpr (!kPrefetchWeights) cuda::wait_for_previous_grid();
  const int32_t slices = static_cast<int32_t>((params.out_columns + kColumns - 1) / kColumns);
  auto& scratch = *reinterpret_cast<ListScratch*>(shared);
  if (params.rows.layout == GroupRows::kTopkIds) {
    list_topk_experts<kTokens>(params.rows, slices, list, scratch);
  } else {
    list_buffer_experts<kTokens>(params.rows, slices, list, scratch);
  }
  // This CTA's share of the units, in order.
  const int64_t units = list.units;
  const int32_t first_unit = static_cast<int32_t>(units * blockIdx.x / gridDim.x);
  const int32_t end_unit = static_cast<int32_t>(units * (blockIdx.x + 1) / gridDim.x);
  if (first_unit == end_unit) return;

  const int lane = threadIdx.x & 31;
  const int warp = threadIdx.x >> 5;
  const int row_group = warp % kRowGroups;  // which 16 weight rows
  const int k_slice = warp / kRowGroups;    // which K slice of each stage
  const int64_t k = params.k;
  const int num_k_tiles = static_cast<int>((k + S::stage_k - 1) / S::stage_k);
  // The pipeline runs through (unit, K tile) pairs in order.
  const int num_tiles = (end_unit - first_unit) * num_k_tiles;
  const uint32_t shared_base = shared_address(shared);
  const auto* x = static_cast<const __nv_bfloat16*>(params.x);
  const int64_t x_row_stride = params.x_row_stride > 0 ? params.x_row_stride : k;

  // Each thread copies one fixed 16-byte chunk column of 8 (weights) or more (tokens) rows of the
  // stage's slices; slice-row v is row v % rows of K slice v / rows. The rows are found once per
  // unit: weight rows (nullptr past the matrix) and token rows (nullptr: zeros).
  const int copy_chunk = threadIdx.x % kChunksPerRow;
  const int copy_row = threadIdx.x / kChunksPerRow;  // 0..7, then + 8 per step
  const __nv_bfloat16* weight_rows[kWeightChunksPerThread];
  const __nv_bfloat16* token_rows[kTokenChunksPerThread];
  int32_t located_unit = -1;
  auto locate = [&](int32_t unit_index) {
    if (unit_index == located_unit) return;
    const Unit unit = locate_unit<kTokens>(list, params.rows, unit_index, slices, kColumns);
    const auto* weights = static_cast<const __nv_bfloat16*>(params.w) +
                          static_cast<int64_t>(unit.expert) * params.w_rows * k;
#pragma unroll
    for (int i = 0; i < kWeightChunksPerThread; ++i) {
      const int64_t row = weight_row<kEpilogue>(params, unit.column_base, (copy_row + 8 * i) % S::rows);
      weight_rows[i] = row < 0 ? nullptr : weights + row * k;
    }
#pragma unroll
    for (int i = 0; i < kTokenChunksPerThread; ++i) {
      const int token = (copy_row + 8 * i) % kTokens;
      const int64_t source = token < unit.tokens ? listed_row(list, params, unit, unit.row_offset + token).source : -1;
      token_rows[i] = source >= 0 ? x + source * x_row_stride : nullptr;
    }
    located_unit = unit_index;
  };

  auto load_weights = [&](int stage, int tile) {
    locate(first_unit + tile / num_k_tiles);
    const int k_tile = tile % num_k_tiles;
    const uint32_t base = shared_base + stage * S::stage_bytes;
#pragma unroll
    for (int i = 0; i < kWeightChunksPerThread; ++i) {
      const int slice_row = copy_row + 8 * i;
      const int part = slice_row / S::rows;
      const int64_t column = static_cast<int64_t>(k_tile) * S::stage_k + part * kSliceK + copy_chunk * 8;
      const bool valid = weight_rows[i] != nullptr && column < k;
      copy_16(base + part * S::weight_slice_bytes + swizzled(slice_row % S::rows, copy_chunk),
              valid ? weight_rows[i] + column : static_cast<const __nv_bfloat16*>(params.w), valid);
    }
  };
  auto load_tokens = [&](int stage, int tile) {
    locate(first_unit + tile / num_k_tiles);
    const int k_tile = tile % num_k_tiles;
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

  // Accumulators of one unit -> bf16 tile in shared memory -> 16-byte rows of out.
  auto store_unit = [&](int32_t unit_index) {
    const Unit unit = locate_unit<kTokens>(list, params.rows, unit_index, slices, kColumns);
    if (threadIdx.x < unit.tokens) {
      const RowPlace place = listed_row(list, params, unit, unit.row_offset + threadIdx.x);
      unit_out_rows[threadIdx.x] = place.out;
      float weight = 1.0f;
      if (kEpilogue == Epilogue::kStore && params.row_weights != nullptr && place.weight >= 0) {
        weight = cuda::load_scalar(params.row_weights, params.row_weights_bf16, place.weight);
      }
      unit_row_weights[threadIdx.x] = weight;
    }
    // Accumulator (n, i): weight row row_group*16 + group (+ 8 for i >= 2), token n*8 +
    // pair_column (+ 1 for odd i).
    if constexpr (S::split_k > 1) {
      // Sum the K slices: every warp parks its partial sums, the first slice's warps add them up.
      auto* partial = reinterpret_cast<float*>(shared + L::partial_offset);
      const auto partial_index = [&](int part, int n, int i) {
        const int row = row_group * 16 + group + (i >= 2 ? 8 : 0);
        const int token = n * 8 + pair_column + (i & 1);
        return (part * S::rows + row) * kTokens + token;
      };
      if (k_slice > 0) {
#pragma unroll
        for (int n = 0; n < kNTiles; ++n) {
#pragma unroll
          for (int i = 0; i < 4; ++i) partial[partial_index(k_slice, n, i)] = accumulators[n][i];
        }
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

    auto* tile = reinterpret_cast<__nv_bfloat16*>(shared + L::tile_offset);
    if (k_slice == 0) {
      float bias[2] = {0.0f, 0.0f};
      if (params.bias != nullptr) {
#pragma unroll
        for (int half = 0; half < 2; ++half) {
          const int64_t row = weight_row<kEpilogue>(params, unit.column_base, row_group * 16 + group + 8 * half);
          if (row >= 0) {
            const int64_t index = static_cast<int64_t>(unit.expert) * params.w_rows + row;
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
    for (int index = threadIdx.x; index < unit.tokens * kOutChunksPerRow; index += kThreads) {
      const int token = index / kOutChunksPerRow;
      const int64_t column = unit.column_base + (index % kOutChunksPerRow) * 8;
      if (column >= params.out_columns) continue;
      uint4 values =
          *reinterpret_cast<const uint4*>(tile + token * L::tile_stride + (index % kOutChunksPerRow) * 8);
      if constexpr (kEpilogue == Epilogue::kStore) {
        if (params.row_weights != nullptr) {
          const float weight = unit_row_weights[token];
          auto* elements = reinterpret_cast<__nv_bfloat16*>(&values);
#pragma unroll
          for (int i = 0; i < 8; ++i) {
            elements[i] = __float2bfloat16_rn(weight * __bfloat162float(elements[i]));
          }
        }
      }
      *reinterpret_cast<uint4*>(out + unit_out_rows[token] * params.out_columns + column) = values;
    }
    __syncthreads();  // the tile, the partial sums and the row places are the next unit's
  };

  // Prologue: the first kStages - 1 tiles. The weights do not depend on the previous kernel, so
  // GEMM2 starts streaming them before it waits for GEMM1's activations.
  if constexpr (kPrefetchWeights) {
    for (int stage = 0; stage < kStages - 1; ++stage) {
      if (stage < num_tiles) load_weights(stage, stage);
    }
    cuda::wait_for_previous_grid();
    for (int stage = 0; stage < kStages - 1; ++stage) {
      if (stage < num_tiles) load_tokens(stage, stage);
      commit_copies();
    }
  } else {
    for (int stage = 0; stage < kStages - 1; ++stage) {
      if (stage < num_tiles) {
        load_weights(stage, stage);
        load_tokens(stage, stage);
      }
      commit_copies();
    }
  }
  cuda::allow_next_grid();

  clear_accumulators();
  for (int tile = 0; tile < num_tiles; ++tile) {
    wait_copies<kStages - 2>();
    __syncthreads();
    const int next = tile + kStages - 1;
    if (next < num_tiles) {
      load_weights(next % kStages, next);
      load_tokens(next % kStages, next);
    }
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

    if (tile % num_k_tiles == num_k_tiles - 1) {
      store_unit(first_unit + tile / num_k_tiles);
      clear_accumulators();
    }
  }
  wait_copies<0>();
}

// Multiprocessors of the current device, read once per device.
int multiprocessors() {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> cached[kMaxDevices];
  int device = 0;
  cuda::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  if (device < kMaxDevices) {
    const int known = cached[device].load(std::memory_order_acquire);
    if (known > 0) return known;
  }
  int count = 0;
  cuda::check_cuda(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, device),
                   "cudaDeviceGetAttribute(multiprocessors)");
  if (device < kMaxDevices) cached[device].store(count, std::memory_order_release);
  return count;
}

// Largest number of units a launch can have (an upper bound of what the CTAs list): every
// active expert's last token tile may be partial.
int64_t max_units(const StreamingGemmParams& params, int token_tile, int columns) {
  const int64_t slices = cuda::ceil_div(params.out_columns, static_cast<int64_t>(columns));
  const int64_t tiles = params.max_active_experts + cuda::ceil_div(params.rows.max_rows, static_cast<int64_t>(token_tile));
  return slices * tiles;
}

template <int kTokens, int kRowGroups, Epilogue kEpilogue>
void launch(const StreamingGemmParams& params, cudaStream_t stream) {
  constexpr int kMaxDevices = 64;
  static std::atomic<int> resident_per_sm[kMaxDevices];
  auto* kernel = streaming_gemm_kernel<kTokens, kRowGroups, kEpilogue>;
  constexpr int shared_bytes = SharedLayout<kEpilogue, kTokens, kRowGroups>::bytes;
  int device = 0;
  cuda::check_cuda(cudaGetDevice(&device), "cudaGetDevice");
  int resident = device < kMaxDevices ? resident_per_sm[device].load(std::memory_order_acquire) : 0;
  if (resident == 0) {
    cuda::check_cuda(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, shared_bytes),
                     "cudaFuncSetAttribute(streaming_gemm_kernel shared memory)");
    cuda::check_cuda(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&resident, kernel, kThreads, shared_bytes),
                     "cudaOccupancyMaxActiveBlocksPerMultiprocessor(streaming_gemm_kernel)");
    if (resident < 1) resident = 1;
    if (device < kMaxDevices) resident_per_sm[device].store(resident, std::memory_order_release);
  }
  constexpr int kColumns = SharedLayout<kEpilogue, kTokens, kRowGroups>::columns;
  const int64_t units = max_units(params, kTokens, kColumns);
  if (units > std::numeric_limits<int32_t>::max()) {
    detail::throw_unsupported("weight-streaming expert GEMM: " + std::to_string(units) +
                              " work units (rows x column slices) exceed the kernel's 32-bit unit index; "
                              "use ExpertKernel::kGroupedTile for this many rows");
  }
  const int64_t ctas = params.ctas > 0 ? params.ctas
                                       : std::min<int64_t>(units, static_cast<int64_t>(resident) * multiprocessors());
  cuda::launch_kernel("streaming_gemm_kernel", kernel, dim3(static_cast<unsigned>(ctas)), dim3(kThreads),
                      shared_bytes, stream, params);
}

// Row groups per unit (64, 32 or 16 weight rows): 64 unless that gives fewer than four units per
// resident CTA (decode: few experts active); then the narrowest whose stages K fills to 90 % (16
// rows split K four ways, so a stage spans 512 of K: K = 768 takes 32 rows, K = 256 too). Finer
// units balance the multiprocessors; each costs one epilogue. Only the decode token tiles (8, 16)
// have the narrow shapes.
template <Epilogue kEpilogue>
int row_groups_for(const StreamingGemmParams& params, int token_tile) {
  if (token_tile > 16) return 4;
  if (params.row_groups == 1 || params.row_groups == 2 || params.row_groups == 4) return params.row_groups;
  const int64_t columns = kEpilogue == Epilogue::kGatedActivation ? 32 : 64;
  const int64_t units = cuda::ceil_div(params.out_columns, columns) * params.max_active_experts;
  if (units >= 4 * 3 * static_cast<int64_t>(multiprocessors())) return 4;
  for (const int row_groups : {1, 2}) {
    const int64_t stage_k = kSliceK * (kWarps / row_groups);
    if (10 * params.k >= 9 * cuda::ceil_div(params.k, stage_k) * stage_k) return row_groups;
  }
  return 4;
}

template <Epilogue kEpilogue>
void launch_for_tile(const StreamingGemmParams& params, int token_tile, cudaStream_t stream) {
  if (params.rows.max_rows == 0 || params.max_active_experts == 0) return;
  if (params.rows.layout == GroupRows::kTopkIds && params.rows.max_rows > kMaxTopkSlots) {
    detail::throw_invalid("rows.max_rows (top-k slots read by the weight-streaming kernel)",
                          "at most " + std::to_string(kMaxTopkSlots),
                          std::to_string(params.rows.max_rows));
  }
  const int row_groups = row_groups_for<kEpilogue>(params, token_tile);
  switch (token_tile) {
    case 8:
      if (row_groups == 1) return launch<8, 1, kEpilogue>(params, stream);
      if (row_groups == 2) return launch<8, 2, kEpilogue>(params, stream);
      return launch<8, 4, kEpilogue>(params, stream);
    case 16:
      if (row_groups == 1) return launch<16, 1, kEpilogue>(params, stream);
      if (row_groups == 2) return launch<16, 2, kEpilogue>(params, stream);
      return launch<16, 4, kEpilogue>(params, stream);
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
