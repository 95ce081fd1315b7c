// GEMM1 of the grouped tile path, token rows read by index (gather_gemm1.h says what it computes).
//
// Work split: a persistent grid (one CTA per SM) walks the output tiles of 128 (or 64) rows x 256
// weight rows, expert after expert; within an expert, the row tiles of one weight-column tile follow
// each other, so CTAs running side by side share that weight tile (and, with few rows per
// expert, the two column tiles of the same rows share the token rows) in L2. Each CTA lists the
// tiles itself from the experts' row counts (a prefix sum in shared memory): no host sync, and a
// launch is capturable in a CUDA graph.
//
// Warp specialization, as CUTLASS's cooperative 128x256 kernel: one producer warpgroup and one
// consumer warpgroup per 64 rows (one wgmma m64n256k16 accumulator of 128 fp32 per thread).
// The producer fills a kStages-deep ring of (A: rows x 64, B: 256 x 64) bf16 stages:
//   - B (weights [expert][n][k]) by TMA, one 256 x 64 box per stage from a 3-D tensor map;
//   - A (token rows) by cp.async, 16 bytes per thread and instruction, each row from the token
//     that row_to_slot names (zero-filled past the expert's rows, past k, and for slots < 0);
//     eight threads cover one 128-byte row, so a warp's instruction reads four whole rows.
// Both land in the 128-byte-swizzled K-major layout wgmma reads (CuTe's Layout_K_SW128_Atom);
// cp.async destinations come from the same CuTe layout, so producer and MMA agree on every address. A
// stage's full barrier completes when the TMA bytes arrived and each producer thread's cp.asyncs
// landed (cp.async.mbarrier.arrive.noinc); consumers free a stage as soon as the wgmmas that read
// it retired (one arrival per consumer warp). The epilogue stores from registers (two adjacent
// bf16 per thread and store) while the producer already loads the next tile's stages.
//
// Layout assumptions: k % 8 == 0 and n % 8 == 0 (16-byte TMA rows), x rows 16-byte aligned
// (x_row_stride % 8 == 0); kGatedActivation needs a kBlocked w13 (n % 256 == 0).
#include <cuda_bf16.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <type_traits>
#include <cub/warp/warp_scan.cuh>

#include "core/check.h"
#include "core/cuda_pdl.cuh"
#include "core/cuda_shared_memory.h"
#include "core/device_attribute.h"
#include "core/prefix_search.cuh"
#include "cute/tensor.hpp"
#include "cutlass/arch/barrier.h"
#include "cutlass/arch/reg_reconfig.h"
#include "cutlass/cutlass.h"
#include "gemm/sm90/activation_math.cuh"
#include "gemm/sm90/gather_gemm1.h"
#include "prepare/bf16_w13_rows.h"

namespace fusedmoe::sm90 {
namespace {

using namespace cute;
using Element = cutlass::bfloat16_t;

constexpr int kTileColumns = 256;
constexpr int kTileK = 64;  // one 128-byte swizzle row of bf16
constexpr int kGroupThreads = 128;
constexpr int kChunksPerRow = kTileK / 8;  // 16-byte cp.async chunks
constexpr int kRowsPerInstruction = kGroupThreads / kChunksPerRow;
constexpr uint32_t kWeightStageBytes = kTileColumns * kTileK * sizeof(Element);
constexpr size_t kSharedAlignment = 1024;
constexpr int kProducerRegisters = 56;  // its rows' source pointers, barriers, the loop state

using TileShapeB = Shape<Int<kTileColumns>, Int<kTileK>>;
using SmemLayoutBStage = decltype(tile_to_shape(GMMA::Layout_K_SW128_Atom<Element>{}, TileShapeB{}));

// Token rows per tile: 128 (the grouped path's 128x256 tile) or 64 (its 64x256 tile).
template <int kTileRows>
struct GatherTile {
  static constexpr int kConsumerGroups = kTileRows / 64;
  static constexpr int kThreads = kGroupThreads * (1 + kConsumerGroups);
  static constexpr int kConsumerWarps = kConsumerGroups * 4;
  static constexpr int kStages = kTileRows == 64 ? 5 : 4;  // what fits 227 KB of shared memory
  // Registers per thread after the producer gives its surplus to the consumers (setmaxnreg): the
  // 65536 of an SM, less the producer's, shared by the consumer warpgroups.
  static constexpr int kConsumerRegisters =
      std::min(232, (65536 / kGroupThreads - kProducerRegisters) / kConsumerGroups / 8 * 8);
  using SmemLayoutA = decltype(tile_to_shape(GMMA::Layout_K_SW128_Atom<Element>{},
                                             Shape<Int<kTileRows>, Int<kTileK>, Int<kStages>>{}));
  using SmemLayoutB = decltype(tile_to_shape(GMMA::Layout_K_SW128_Atom<Element>{},
                                             Shape<Int<kTileColumns>, Int<kTileK>, Int<kStages>>{}));
  using TiledMma = decltype(make_tiled_mma(SM90_64x256x16_F32BF16BF16_SS<GMMA::Major::K, GMMA::Major::K>{},
                                           Layout<Shape<Int<kConsumerGroups>, _1, _1>>{}));

  struct SharedStorage {
    alignas(1024) Element a[cosize_v<SmemLayoutA>];
    alignas(1024) Element b[cosize_v<SmemLayoutB>];
    alignas(8) uint64_t full[kStages];
    uint64_t empty[kStages];
    // Followed by int32 tiles_before[num_experts + 1] (dynamic).
  };

  static size_t shared_bytes(int32_t num_experts) {
    return sizeof(SharedStorage) + kSharedAlignment + (static_cast<size_t>(num_experts) + 1) * sizeof(int32_t);
  }
};

// The weights [experts][n][k] as the TMA's (n, k, expert) tensor.
auto make_weight_tma(const GatherGemm1Params& params) {
  Tensor weights = make_tensor(
      make_gmem_ptr(static_cast<const Element*>(params.w)),
      make_layout(make_shape(static_cast<int32_t>(params.n), static_cast<int32_t>(params.k), params.rows.num_experts),
                  make_stride(params.k, _1{}, params.n * params.k)));
  return make_tma_copy(SM90_TMA_LOAD{}, weights, SmemLayoutBStage{}, TileShapeB{}, Int<1>{});
}

// Prefix sum of the experts' tile counts, one warp over 32 experts at a time.
using TileCountScan = cub::WarpScan<int>;

struct TileCoord {
  int expert;
  int m_tile;      // row tile within the expert
  int n_tile;      // weight-column tile
  int rows;        // the expert's rows
  int64_t first_row;  // the expert's first row in the dispatched buffer
};

// Tile `tile` of the expert-major order; within an expert the row tiles of a column tile are
// consecutive. tiles_before[e] counts the tiles of experts before e (non-decreasing).
__device__ TileCoord tile_coord(const int32_t* tiles_before, const ExpertRows& rows, int n_tiles, int tile) {
  const int expert = cuda::last_run_at_or_below(tiles_before, rows.num_experts, tile);
  const int local = tile - tiles_before[expert];
  const int m_tiles = (tiles_before[expert + 1] - tiles_before[expert]) / n_tiles;
  TileCoord coord;
  coord.expert = expert;
  coord.n_tile = local / m_tiles;
  coord.m_tile = local % m_tiles;
  coord.rows = expert_row_count(rows, expert);
  coord.first_row = expert_first_row(rows, expert);
  return coord;
}

__device__ __forceinline__ void cp_async_zero_fill(uint32_t shared_address, const void* source, int source_bytes) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(shared_address), "l"(source),
               "r"(source_bytes));
}

__device__ __forceinline__ float round_bf16(float value) { return __bfloat162float(__float2bfloat16_rn(value)); }

__device__ __forceinline__ void store_pair(__nv_bfloat16* address, float first, float second) {
  *reinterpret_cast<__nv_bfloat162*>(address) = __floats2bfloat162_rn(first, second);
}

template <int kTileRows, class WeightTma>
__global__ void __launch_bounds__(GatherTile<kTileRows>::kThreads, 1)
    gather_gemm1_kernel(const __grid_constant__ WeightTma weight_tma, const GatherGemm1Params params) {
  using Tile = GatherTile<kTileRows>;
  using SharedStorage = typename Tile::SharedStorage;
  using SmemLayoutA = typename Tile::SmemLayoutA;
  using SmemLayoutB = typename Tile::SmemLayoutB;
  using TiledMma = typename Tile::TiledMma;
  constexpr int kStages = Tile::kStages;
  extern __shared__ char shared_raw[];
  // Aligned by an offset into shared_raw, not through an integer: the compiler then still knows
  // every access below is to shared memory (shared loads, not generic ones through L1TEX).
  const uint32_t misalignment = cast_smem_ptr_to_uint(shared_raw) % kSharedAlignment;
  const uint32_t padding = misalignment == 0 ? 0 : static_cast<uint32_t>(kSharedAlignment) - misalignment;
  SharedStorage& storage = *reinterpret_cast<SharedStorage*>(shared_raw + padding);
  int32_t* tiles_before = reinterpret_cast<int32_t*>(&storage + 1);

  const ExpertRows& rows = params.rows;
  const int num_experts = rows.num_experts;
  const int n_tiles = static_cast<int>((params.n + kTileColumns - 1) / kTileColumns);
  const int k_blocks = static_cast<int>((params.k + kTileK - 1) / kTileK);
  const int warp = threadIdx.x / 32;
  const int lane = threadIdx.x % 32;

  if (threadIdx.x == 0) {
    for (int stage = 0; stage < kStages; ++stage) {
      cutlass::arch::ClusterBarrier::init(&storage.full[stage], kGroupThreads + 1);
      cutlass::arch::ClusterBarrier::init(&storage.empty[stage], Tile::kConsumerWarps);
    }
    cutlass::arch::fence_barrier_init();
  }
  if (threadIdx.x == 32) cute::prefetch_tma_descriptor(weight_tma.get_tma_descriptor());

  // The row counts come from the dispatch maps of the previous kernel.
  cuda::wait_for_previous_grid();
  if (warp == 0) {
    // A 32-lane int scan is cub's shuffle specialization: its TempStorage holds nothing, so a
    // local stands in for it and the kernel's shared memory stays as SharedStorage lays it out.
    TileCountScan::TempStorage scan_storage;
    int running = 0;
    for (int base = 0; base < num_experts; base += 32) {
      const int expert = base + lane;
      const int tiles =
          expert < num_experts ? (expert_row_count(rows, expert) + kTileRows - 1) / kTileRows * n_tiles : 0;
      int tiles_before_lane = 0;
      int tiles_in_warp = 0;
      TileCountScan(scan_storage).ExclusiveSum(tiles, tiles_before_lane, tiles_in_warp);
      if (expert < num_experts) tiles_before[expert] = running + tiles_before_lane;
      running += tiles_in_warp;
    }
    if (lane == 0) tiles_before[num_experts] = running;
  }
  __syncthreads();
  cuda::allow_next_grid();
  const int total_tiles = tiles_before[num_experts];

  Tensor shared_a = make_tensor(make_smem_ptr(storage.a), SmemLayoutA{});  // (rows, k, stage)
  Tensor shared_b = make_tensor(make_smem_ptr(storage.b), SmemLayoutB{});  // (n, k, stage)

  if (threadIdx.x < kGroupThreads) {
    // Producer warpgroup. Thread t copies the 16-byte chunk t % 8 of the tile rows t / 8 + 16 i:
    // their source rows stay in registers for a whole tile (the next tile's slots are loaded
    // while this one streams), and since 16 i does not change a row's swizzle phase (row % 8),
    // its shared destinations are one base plus fixed strides. The loop then issues little
    // more than the cp.asyncs (a producer that recomputed addresses per chunk was issue-bound
    // and left the consumers waiting on full stages).
    cutlass::arch::warpgroup_reg_dealloc<kProducerRegisters>();
    constexpr int kRowsPerThread = kTileRows / kRowsPerInstruction;
    constexpr uint32_t kRowBytes = kTileK * sizeof(Element);
    constexpr uint32_t kStageBytesA = kTileRows * kRowBytes;
    const int thread = threadIdx.x;
    const int chunk = thread % kChunksPerRow;
    const int first_tile_row = thread / kChunksPerRow;
    const Element* x = static_cast<const Element*>(params.x);
    // The layout's strides this relies on: 128 bytes per row, kTileRows rows per stage, and a
    // swizzle phase that repeats every 8 rows.
    static_assert(SmemLayoutA{}(make_coord(kRowsPerInstruction, 0, 0)) == kRowsPerInstruction * kTileK &&
                      SmemLayoutA{}(make_coord(0, 0, 1)) == kTileRows * kTileK,
                  "row and stage strides of the A stages");
    const uint32_t destination_base = cast_smem_ptr_to_uint(&shared_a(first_tile_row, chunk * 8, 0));
    Tensor weight_coords = weight_tma.get_tma_tensor(
        make_shape(static_cast<int32_t>(params.n), static_cast<int32_t>(params.k), num_experts));

    // The slots of this thread's rows of tile `tile` (-1: a zero row).
    const auto load_slots = [&](int tile, int32_t (&slots)[kRowsPerThread]) {
      const TileCoord coord = tile_coord(tiles_before, rows, n_tiles, tile);
      CUTE_UNROLL
      for (int i = 0; i < kRowsPerThread; ++i) {
        const int row = coord.m_tile * kTileRows + first_tile_row + i * kRowsPerInstruction;
        slots[i] = row < coord.rows ? params.row_to_slot[coord.first_row + row] : -1;
      }
    };
    int32_t next_slots[kRowsPerThread];
    if (static_cast<int>(blockIdx.x) < total_tiles) load_slots(blockIdx.x, next_slots);

    int stage = 0;
    uint32_t phase = 0;
    for (int tile = blockIdx.x; tile < total_tiles; tile += gridDim.x) {
      const TileCoord coord = tile_coord(tiles_before, rows, n_tiles, tile);
      const Element* sources[kRowsPerThread];
      CUTE_UNROLL
      for (int i = 0; i < kRowsPerThread; ++i) {
        const int32_t slot = next_slots[i];
        sources[i] = slot >= 0 ? x + static_cast<int64_t>(slot / params.top_k) * params.x_row_stride + chunk * 8 : nullptr;
      }
      const int following = tile + static_cast<int>(gridDim.x);
      if (following < total_tiles) load_slots(following, next_slots);

      Tensor tile_weights =
          local_tile(weight_coords(_, _, coord.expert), TileShapeB{}, make_coord(coord.n_tile, _));  // (n, k, k_block)
      auto [source_b, destination_b] =
          tma_partition(weight_tma, Int<0>{}, Layout<_1>{}, group_modes<0, 2>(shared_b), group_modes<0, 2>(tile_weights));
      for (int k_block = 0; k_block < k_blocks; ++k_block) {
        cutlass::arch::ClusterBarrier::wait(&storage.empty[stage], phase ^ 1);
        if (thread == 0) {
          cutlass::arch::ClusterTransactionBarrier::arrive_and_expect_tx(&storage.full[stage], kWeightStageBytes);
          copy(weight_tma.with(storage.full[stage]), source_b(_, k_block), destination_b(_, stage));
        }
        const int64_t column = static_cast<int64_t>(k_block) * kTileK;
        const bool column_in_range = column + chunk * 8 < params.k;
        const uint32_t destination = destination_base + stage * kStageBytesA;
        CUTE_UNROLL
        for (int i = 0; i < kRowsPerThread; ++i) {
          const bool load = column_in_range && sources[i] != nullptr;
          cp_async_zero_fill(destination + i * kRowsPerInstruction * kRowBytes, load ? sources[i] + column : x,
                             load ? 16 : 0);
        }
        cutlass::arch::cpasync_barrier_arrive_noinc(&storage.full[stage]);
        if (++stage == kStages) {
          stage = 0;
          phase ^= 1;
        }
      }
    }
    // Stay until the consumers have released every stage: no producer thread exits with its
    // cp.asyncs in flight.
    for (int drained = 0; drained < kStages; ++drained) {
      cutlass::arch::ClusterBarrier::wait(&storage.empty[stage], phase ^ 1);
      if (++stage == kStages) {
        stage = 0;
        phase ^= 1;
      }
    }
    return;
  }

  // Consumer warpgroups.
  cutlass::arch::warpgroup_reg_alloc<Tile::kConsumerRegisters>();
  const int consumer_thread = threadIdx.x - kGroupThreads;
  const int group = __shfl_sync(0xffffffffu, consumer_thread / kGroupThreads, 0);
  TiledMma tiled_mma;
  auto group_mma = tiled_mma.get_slice(group * kGroupThreads);
  Tensor mma_a = group_mma.make_fragment_A(group_mma.partition_A(shared_a));  // (MMA, M, K, stage)
  Tensor mma_b = group_mma.make_fragment_B(group_mma.partition_B(shared_b));  // (MMA, N, K, stage)
  Tensor accumulators = partition_fragment_C(tiled_mma, Shape<Int<kTileRows>, Int<kTileColumns>>{});
  Tensor coordinates = tiled_mma.get_slice(consumer_thread)
                           .partition_C(make_identity_tensor(Shape<Int<kTileRows>, Int<kTileColumns>>{}));
  constexpr int kValues = decltype(size(accumulators))::value;
  static_assert(decltype(size(coordinates))::value == kValues, "one coordinate per accumulator value");
  static_assert(kTileColumns == 2 * kGateUpBlock, "gate and up of 128 features per 256-column tile");

  const ActivationMath math{params.activation, params.alpha, params.beta, params.clamp_limit};
  __nv_bfloat16* out = static_cast<__nv_bfloat16*>(params.out);
  int stage = 0;
  uint32_t phase = 0;
  for (int tile = blockIdx.x; tile < total_tiles; tile += gridDim.x) {
    const TileCoord coord = tile_coord(tiles_before, rows, n_tiles, tile);
    const int tile_rows = coord.rows - coord.m_tile * kTileRows;
    tiled_mma.accumulate_ = GMMA::ScaleOut::Zero;
    int previous_stage = -1;
    for (int k_block = 0; k_block < k_blocks; ++k_block) {
      cutlass::arch::ClusterBarrier::wait(&storage.full[stage], phase);
      warpgroup_fence_operand(accumulators);
      warpgroup_arrive();
      CUTE_UNROLL
      for (int k = 0; k < size<2>(mma_a); ++k) {
        cute::gemm(tiled_mma, mma_a(_, _, k, stage), mma_b(_, _, k, stage), accumulators);
        tiled_mma.accumulate_ = GMMA::ScaleOut::One;
      }
      warpgroup_commit_batch();
      // The previous stage's wgmmas have retired: its buffers go back to the producer.
      warpgroup_wait<1>();
      warpgroup_fence_operand(accumulators);
      if (previous_stage >= 0 && lane == 0) cutlass::arch::ClusterBarrier::arrive(&storage.empty[previous_stage]);
      previous_stage = stage;
      if (++stage == kStages) {
        stage = 0;
        phase ^= 1;
      }
    }
    warpgroup_wait<0>();
    warpgroup_fence_operand(accumulators);
    if (previous_stage >= 0 && lane == 0) cutlass::arch::ClusterBarrier::arrive(&storage.empty[previous_stage]);

    __nv_bfloat16* tile_out =
        out + (coord.first_row + static_cast<int64_t>(coord.m_tile) * kTileRows) * params.out_columns;
    if (params.output == GatherGemm1Output::kGatedActivation) {
      // Value i (a gate column < 128) and value i + kValues / 2 (its up column, 128 later) are the
      // same row and feature.
      constexpr int kHalf = kValues / 2;
      const int64_t feature_base = static_cast<int64_t>(coord.n_tile) * kGateUpBlock;
      CUTE_UNROLL
      for (int i = 0; i < kHalf; i += 2) {
        const int row = get<0>(coordinates(i));
        if (row >= tile_rows) continue;
        const int64_t feature = feature_base + get<1>(coordinates(i));
        store_pair(tile_out + row * params.out_columns + feature,
                   math.gated(round_bf16(accumulators(i)), round_bf16(accumulators(i + kHalf))),
                   math.gated(round_bf16(accumulators(i + 1)), round_bf16(accumulators(i + 1 + kHalf))));
      }
    } else {
      const bool activation = params.output == GatherGemm1Output::kSingleActivation;
      const int64_t column_base = static_cast<int64_t>(coord.n_tile) * kTileColumns;
      CUTE_UNROLL
      for (int i = 0; i < kValues; i += 2) {
        const int row = get<0>(coordinates(i));
        const int64_t column = column_base + get<1>(coordinates(i));
        if (row >= tile_rows || column >= params.n) continue;
        const float first = activation ? math.single(round_bf16(accumulators(i))) : accumulators(i);
        const float second = activation ? math.single(round_bf16(accumulators(i + 1))) : accumulators(i + 1);
        store_pair(tile_out + row * params.out_columns + column, first, second);
      }
    }
  }
}

void check_internal(bool condition, const std::string& what) {
  if (!condition) throw Error(ErrorKind::kInternal, "fusedmoe: gather GEMM1 called with " + what);
}

template <int kTileRows>
void launch_tile(const GatherGemm1Params& params, cudaStream_t stream) {
  const auto weight_tma = make_weight_tma(params);
  constexpr auto* kernel = gather_gemm1_kernel<kTileRows, std::remove_const_t<decltype(weight_tma)>>;
  const int bytes = static_cast<int>(GatherTile<kTileRows>::shared_bytes(params.rows.num_experts));
  // The bytes grow with the experts: a call with more experts than any before raises the opt-in.
  cuda::ensure_dynamic_shared_memory<kernel>(bytes, "gather GEMM1");
  const int multiprocessors =
      cuda::device_attribute<cudaDevAttrMultiProcessorCount>("cudaDeviceGetAttribute(multiprocessors)");
  cuda::launch_kernel("gather GEMM1", kernel, dim3(static_cast<unsigned>(multiprocessors)),
                      dim3(GatherTile<kTileRows>::kThreads), bytes, stream, weight_tma, params);
}

}  // namespace

void launch_gather_gemm1(const GatherGemm1Params& params, cudaStream_t stream) {
  check_internal(params.rows.layout != GroupRows::kTopkIds, "rows listed from top-k ids (it takes dispatched rows)");
  check_internal(params.k > 0 && params.k % 8 == 0 && params.n > 0 && params.n % 8 == 0,
                 "k = " + std::to_string(params.k) + ", n = " + std::to_string(params.n) + " (multiples of 8 expected)");
  check_internal(params.x_row_stride >= params.k && params.x_row_stride % 8 == 0,
                 "x_row_stride = " + std::to_string(params.x_row_stride));
  check_internal(params.row_to_slot != nullptr && params.top_k > 0, "no row_to_slot map");
  check_internal(params.output != GatherGemm1Output::kGatedActivation ||
                     (params.n % kTileColumns == 0 && params.out_columns == params.n / 2),
                 "a gated activation epilogue on n = " + std::to_string(params.n) + " (kBlocked w13 expected)");
  check_internal(params.output == GatherGemm1Output::kGatedActivation || params.out_columns == params.n,
                 "out_columns = " + std::to_string(params.out_columns) + " for n = " + std::to_string(params.n));
  check_internal(params.tile_rows == 128 || params.tile_rows == 64,
                 "tile_rows = " + std::to_string(params.tile_rows) + " (128 or 64 expected)");
  if (params.rows.num_experts == 0 || params.rows.max_rows == 0) return;
  if (params.tile_rows == 64) {
    launch_tile<64>(params, stream);
  } else {
    launch_tile<128>(params, stream);
  }
}

}  // namespace fusedmoe::sm90
