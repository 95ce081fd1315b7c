// Grouped bf16 GEMM over the local experts: for every expert e,
//   D_e[M_e, N] = A_e[M_e, K] · B_eᵀ   (A rows = tokens routed to e, B_e = expert weight [N, K])
// with fp32 accumulation and a bf16 result. Problem sizes and pointers live in device memory
// (filled by the setup kernel from expert offsets or counts), so the host never learns the
// routing: no sync, and a launch is capturable in a CUDA graph.
#pragma once

#include <cstddef>
#include <cstdint>

#include "fusedmoe/moe.h"
#include "gemm/sm90/expert_rows.h"

namespace fusedmoe::sm90 {

// The CUTLASS tile (rows × weight rows × K) a call runs with; rows are the tokens of an expert.
// A tile taller than an expert's rows computes padding: pick the smallest that covers them.
enum class GroupedTile : int32_t {
  k64x128 = 0,   // pingpong, one warpgroup per 64-row tile: few rows per expert
  k128x128 = 1,  // cooperative, two warpgroups
  k256x128 = 2,  // cooperative: prefill (713-723 TF/s at 512 rows per group, toolchain notes)
  k128x256 = 3,  // cooperative, 256 weight rows per tile: less row padding than 256x128
  k64x256 = 4,   // pingpong, 256 weight rows per 64-row tile: 64-row padding granularity
};
constexpr int32_t kGroupedTileCount = 5;

// The GPU's peak memory bandwidth, as far as the tile choice cares: a 64-row tile re-reads an
// expert's weights once per 64 rows, which an H200 (4.8 TB/s) absorbs longer than an H100
// (3.35 TB/s).
enum class PeakBandwidth : int32_t {
  kBelow4TBps = 0,    // H100 SXM (3.35 TB/s), H100 PCIe
  k4TBpsOrMore = 1,   // H200 (4.8 TB/s)
};
// From the current device's memory clock and bus width (k4TBpsOrMore when it reports neither).
PeakBandwidth current_peak_bandwidth();

// A local shard at most this narrow (its I; the DeepSeek-V3 TP8 shard has 256) gets its own tile
// and token-row choices: its GEMMs read far more weight and token bytes per FLOP than wide experts.
constexpr int64_t kNarrowIntermediate = 256;

// What the tile choice looks at besides the rows per expert.
struct GroupedTileContext {
  int64_t intermediate_size = 0;  // I of the local shard: GEMM2's reduction length
  PeakBandwidth bandwidth = PeakBandwidth::k4TBpsOrMore;
};

// The tile for a mean number of rows per expert.
GroupedTile grouped_tile_for_rows(double mean_rows_per_expert, const GroupedTileContext& context);

// What the epilogue writes: the product, or GEMM1's activation of it.
enum class GroupedOutput : int32_t {
  kStore = 0,       // D = A · Bᵀ, [rows, n]
  kActivation = 1,  // D = act(A · Bᵀ), [rows, I]: the 64x256 tile; gated needs kBlocked w13
};

struct GroupedGemmProblem {
  ExpertRows rows;           // one group per local expert (rows.num_experts groups)
  int64_t n = 0;             // product columns (weight rows)
  int64_t k = 0;             // reduction length (weight row length)
  const void* a = nullptr;  // bf16 rows, row stride k
  const void* b = nullptr;  // bf16 [rows.num_experts, n, k]
  void* d = nullptr;        // bf16 rows, row stride d_columns
  int64_t d_columns = 0;    // 0: n (kStore); I (n / 2 when gated) for kActivation
  GroupedTile tile = GroupedTile::k256x128;
  GroupedOutput output = GroupedOutput::kStore;
  Activation activation = Activation::kSwiGLU;  // kActivation only, with its parameters
  float alpha = 1.702f;
  float beta = 1.0f;
  float clamp_limit = 0.0f;
};

#ifdef __CUDACC__
__host__ __device__
#endif
inline int64_t d_row_stride(const GroupedGemmProblem& problem) {
  return problem.d_columns > 0 ? problem.d_columns : problem.n;
}

// Whether GEMM1 (reduction length k) writes its activation from the tile's epilogue: on the 64x256
// pingpong tile, where it measured faster (k >= 3072), for a non-gated activation or a gated one
// whose w13 is in the prepared kBlocked order (gate and up 128 columns apart in every tile).
bool grouped_tile_fuses_activation(GroupedTile tile, int64_t k, bool gated, bool blocked_w13);

// Device scratch the grouped GEMM needs for `num_groups` groups (argument arrays + CUTLASS's own),
// enough for every tile.
size_t grouped_gemm_bf16_workspace_bytes(int32_t num_groups);

// Enqueues setup + GEMM on `stream`. `workspace` must hold grouped_gemm_bf16_workspace_bytes().
void grouped_gemm_bf16(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                       Stream stream);

}  // namespace fusedmoe::sm90
