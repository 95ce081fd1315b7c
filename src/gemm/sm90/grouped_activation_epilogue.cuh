// GEMM1's activation as the grouped GEMM's epilogue: the CUTLASS collective epilogue of the
// grouped tile GEMM when it writes the activation a = act(h) instead of h itself.
//
//   gated:     a[r, c] = act(bf16(h[r, gate(c)]), bf16(h[r, up(c)]))   a: [rows, I] bf16
//   non-gated: a[r, c] = act(bf16(h[r, c]))                            a: [rows, I] bf16
// with h = x · W13ᵀ the tile's fp32 accumulators, rounded to bf16 before the activation exactly as
// the separate activation kernel reads them (docs/NUMERICS.md step 3), and the result rounded once.
//
// Used on the 64x256 pingpong tile, where the other warpgroup's mainloop runs while one stores
// (grouped_tile_fuses_activation says when it measured faster).
//
// Layout assumptions (gated): w13 is in the prepared kBlocked row order (prepare/bf16_w13_rows.h),
// the tile is 256 columns wide, so tile column n < 128 is the gate of feature
// n_tile * 128 + n and column n + 128 its up. A Hopper wgmma accumulator of a 64 x 256 tile holds,
// per thread, the values ((2, 2, 32) : column pair, row pair, 8-column group), so a thread's value
// i of the first 16 column groups (the gate half) and value i + size / 2 (the up half) are the same
// row and feature: the activation pairs them in registers. Each thread stores two adjacent bf16
// columns at a time (4 bytes), straight from registers; there is no shared-memory staging (CUTLASS's
// NoSmem epilogue schedule), so the mainloop keeps every shared-memory stage.
// Non-gated: N = I; values are independent. Only 256-column tiles instantiate it (static_assert).
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

#include "cute/tensor.hpp"
#include "cutlass/cutlass.h"
#include "cutlass/detail/layout.hpp"
#include "cutlass/epilogue/collective/detail.hpp"
#include "cutlass/epilogue/dispatch_policy.hpp"
#include "cutlass/epilogue/thread/linear_combination.h"
#include "gemm/sm90/activation_math.cuh"
#include "prepare/bf16_w13_rows.h"

namespace fusedmoe::sm90::grouped_detail {

enum class ActivationForm : int32_t {
  kGatedBlocked = 0,  // gate and up of 128 features per 256-column tile (kBlocked w13)
  kSingle = 1,        // non-gated: one value per column
};

class ActivationEpilogueArray {
 public:
  using EpilogueSchedule = cutlass::epilogue::PtrArrayNoSmemWarpSpecialized;
  using DispatchPolicy = EpilogueSchedule;
  using ElementAccumulator = float;
  using ElementCompute = float;
  using ElementC = void;
  using ElementD = cutlass::bfloat16_t;
  using ElementOutput = ElementD;
  using StrideC = cutlass::detail::TagToStrideC_t<cutlass::layout::RowMajor*>;
  using StrideD = StrideC;
  using InternalStrideC = cute::remove_pointer_t<StrideC>;
  using InternalStrideD = cute::remove_pointer_t<StrideD>;
  // Required by CUTLASS's device adapter for its alignment bookkeeping only.
  using ThreadEpilogueOp = cutlass::epilogue::thread::LinearCombination<ElementD, 1, float, float>;

  struct SharedStorage {};
  using TensorMapStorage = SharedStorage;

  struct Arguments {
    ElementD** ptr_d = nullptr;   // per group: the group's first output row
    int64_t d_row_stride = 0;     // I
    ActivationForm form = ActivationForm::kGatedBlocked;
    ActivationMath math{};
  };
  using Params = Arguments;

  template <class ProblemShape>
  static constexpr Params to_underlying_arguments(ProblemShape const&, Arguments const& args, void*) {
    return args;
  }

  template <class ProblemShape>
  static size_t get_workspace_size(ProblemShape const&, Arguments const&, int) {
    return 0;
  }

  template <class ProblemShape>
  static cutlass::Status initialize_workspace(ProblemShape const&, Arguments const&, void*, cudaStream_t,
                                              cutlass::CudaHostAdapter* = nullptr) {
    return cutlass::Status::kSuccess;
  }

  template <class ProblemShape>
  static bool can_implement(ProblemShape const&, Arguments const& args) {
    return args.ptr_d != nullptr && args.d_row_stride % 2 == 0;
  }

  CUTLASS_HOST_DEVICE explicit ActivationEpilogueArray(Params const& params) : params_(params) {}

  CUTLASS_DEVICE bool is_source_needed() { return false; }

  template <class ProblemShapeMNKL, class BlockShapeMNK, class BlockCoordMNKL, class FrgEngine,
            class FrgLayout, class TiledMma, class ResidueMNK>
  CUTLASS_DEVICE void operator()(ProblemShapeMNKL problem_shape_mnkl, BlockShapeMNK, BlockCoordMNKL blk_coord_mnkl,
                                 cute::Tensor<FrgEngine, FrgLayout> const& accumulators, TiledMma tiled_mma,
                                 ResidueMNK, int thread_idx, char*) {
    using namespace cute;
    constexpr int kTileM = size<0>(BlockShapeMNK{});
    constexpr int kTileN = size<1>(BlockShapeMNK{});
    constexpr int kValues = size(FrgLayout{});
    static_assert(kValues % 4 == 0, "accumulator values come in column pairs");
    static_assert(kTileN == 2 * kGateUpBlock, "gate and up of 128 features per 256-column tile");
    static_assert(size<1>(FrgLayout{}) == 1 && size<2>(FrgLayout{}) == 1,
                  "one wgmma accumulator per thread: the up half is the second half of the values");

    const int rows = get<0>(problem_shape_mnkl);
    const int columns = get<1>(problem_shape_mnkl);
    const int m_tile = get<0>(blk_coord_mnkl);
    const int n_tile = get<1>(blk_coord_mnkl);
    const int group = get<3>(blk_coord_mnkl);

    // Tile-local (row, column) of every accumulator value of this thread.
    auto thread_mma = tiled_mma.get_thread_slice(thread_idx);
    Tensor coordinates =
        thread_mma.partition_C(make_identity_tensor(make_shape(Int<kTileM>{}, Int<kTileN>{})));
    static_assert(decltype(size(coordinates))::value == kValues, "one coordinate per accumulator value");

    __nv_bfloat16* out = reinterpret_cast<__nv_bfloat16*>(params_.ptr_d[group]);
    const int first_row = m_tile * kTileM;
    const ActivationMath math = params_.math;

    if (params_.form == ActivationForm::kGatedBlocked) {
      constexpr int kHalf = kValues / 2;
      const int64_t feature_base = static_cast<int64_t>(n_tile) * kGateUpBlock;
      CUTLASS_PRAGMA_UNROLL
      for (int i = 0; i < kHalf; i += 2) {
        const int row = first_row + get<0>(coordinates(i));
        if (row >= rows) continue;
        const int64_t feature = feature_base + get<1>(coordinates(i));
        const float first = math.gated(round_bf16(accumulators(i)), round_bf16(accumulators(i + kHalf)));
        const float second =
            math.gated(round_bf16(accumulators(i + 1)), round_bf16(accumulators(i + 1 + kHalf)));
        store_pair(out + static_cast<int64_t>(row) * params_.d_row_stride + feature, first, second);
      }
    } else {
      const int64_t column_base = static_cast<int64_t>(n_tile) * kTileN;
      CUTLASS_PRAGMA_UNROLL
      for (int i = 0; i < kValues; i += 2) {
        const int row = first_row + get<0>(coordinates(i));
        const int64_t column = column_base + get<1>(coordinates(i));
        if (row >= rows || column >= columns) continue;
        store_pair(out + static_cast<int64_t>(row) * params_.d_row_stride + column,
                   math.single(round_bf16(accumulators(i))), math.single(round_bf16(accumulators(i + 1))));
      }
    }
  }

 private:
  CUTLASS_DEVICE static float round_bf16(float value) { return __bfloat162float(__float2bfloat16_rn(value)); }

  // Two adjacent columns (the first even; rows are an even number of elements long).
  CUTLASS_DEVICE static void store_pair(__nv_bfloat16* address, float first, float second) {
    *reinterpret_cast<__nv_bfloat162*>(address) = __floats2bfloat162_rn(first, second);
  }

  Params params_;
};

using ActivationEpilogue = cutlass::epilogue::collective::detail::Sm90TmaWarpSpecializedAdapter<ActivationEpilogueArray>;

}  // namespace fusedmoe::sm90::grouped_detail
