// Grouped bf16 GEMM (grouped_gemm_bf16.h): picks the tile instantiation
// (grouped_gemm_bf16_tile*.cu, built from CUTLASS 3.x Hopper collectives: TMA loads, wgmma,
// warp-specialized kernels with a persistent grouped tile scheduler).
#include "gemm/sm90/grouped_gemm_bf16.h"

#include <cuda_runtime_api.h>

#include <algorithm>

#include "core/device_attribute.h"
#include "fusedmoe/error.h"
#include "gemm/sm90/grouped_gemm_bf16_tiles.h"

namespace fusedmoe::sm90 {

// Measured with every tile forced (docs/PERF.md, `fusedmoe bench --tactic`). On an H200 the
// 64x256 pingpong tile is the fastest or tied from 16 to 256 rows per expert on every preset
// (Mixtral M = 256, 64 rows: 777 us against 898 for 128x128; MiniMax-M2 M = 4096, 128 rows: 2445
// against 2645 for 128x256; Mixtral M = 1024, 256 rows: 1390 against 1476); 128x256 wins from
// 512 rows (DeepSeek-V3 M = 16384: 21.4 ms against 21.8; Qwen3-30B-A3B M = 16384, 1024 rows:
// 2641 us against 2783). On an H100, where re-reading weights per 64 rows costs more, 128x256
// wins from 256 rows (Mixtral M = 1024: 1556 us against 1627; DeepSeek-V3 M = 8192: 12.18 ms
// against 13.05; Qwen3 M = 6144, 384 rows: 1122 against 1216; MiniMax-M2 M = 8192 tied) and,
// for DeepSeek-V3's TP8 shard (I = 256, GEMM2 a 4-step reduction per tile), from 64 rows (M =
// 2048 / 3072 / 4096 / 6144: 2 / 6 / 7 / 7 % faster; 48 rows: 1 % slower); at 128 rows the wide
// experts keep 64x256 (DeepSeek-V3 9398 us against 9745, MiniMax-M2 3058 against 3292, Mixtral
// M = 512 1147 against 1226). 64x128, 128x128 and 256x128 never win and stay as forced tactics.
GroupedTile grouped_tile_for_rows(double mean_rows_per_expert, const GroupedTileContext& context) {
  if (context.bandwidth == PeakBandwidth::k4TBpsOrMore) {
    return mean_rows_per_expert <= 384.0 ? GroupedTile::k64x256 : GroupedTile::k128x256;
  }
  if (mean_rows_per_expert >= 256.0) return GroupedTile::k128x256;
  if (context.intermediate_size <= kNarrowIntermediate && mean_rows_per_expert >= 64.0) {
    return GroupedTile::k128x256;
  }
  return GroupedTile::k64x256;
}

PeakBandwidth current_peak_bandwidth() {
  // A heuristic input never fails a call: a device that does not report its memory clock or bus
  // width reads 0 and gets the H200 rule (the one measured first).
  const int clock_khz = cuda::device_attribute<cudaDevAttrMemoryClockRate>(
      "cudaDeviceGetAttribute(memory clock)", cuda::AttributeMissing::kZero);
  const int bus_bits = cuda::device_attribute<cudaDevAttrGlobalMemoryBusWidth>(
      "cudaDeviceGetAttribute(memory bus width)", cuda::AttributeMissing::kZero);
  // Double data rate: two transfers per clock over the bus.
  const double bytes_per_second = 2.0 * clock_khz * 1e3 * (bus_bits / 8.0);
  return bytes_per_second > 0.0 && bytes_per_second < 4e12 ? PeakBandwidth::kBelow4TBps
                                                           : PeakBandwidth::k4TBpsOrMore;
}

size_t grouped_gemm_bf16_workspace_bytes(int32_t num_groups) {
  return std::max({grouped_gemm_bf16_64x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_128x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_256x128_workspace_bytes(num_groups),
                   grouped_gemm_bf16_128x256_workspace_bytes(num_groups),
                   grouped_gemm_bf16_64x256_workspace_bytes(num_groups),
                   grouped_gemm_bf16_64x256_activation_workspace_bytes(num_groups)});
}

// Same-run A/B on an H200 (docs/PERF.md) of the activation epilogue against the product stored
// through CUTLASS's TMA epilogue plus the activation kernel: on the 64x256 pingpong tile with
// K = 3072-7168 (DeepSeek-V3, its TP8 shard, MiniMax-M2, Mixtral at M = 1024-4096) 0.6-2.3 %
// faster; with K = 2048 (Qwen3-30B-A3B) 4-5 % slower, and on the cooperative 128x256 tile (M =
// 16384) 1.4-5.5 % slower: its direct 4-byte stores fill half sectors and, without a second
// warpgroup's mainloop to hide them behind, cost more than the round trip they save.
constexpr int64_t kActivationEpilogueMinK = 3072;

bool grouped_tile_fuses_activation(GroupedTile tile, int64_t k, bool gated, bool blocked_w13) {
  return tile == GroupedTile::k64x256 && k >= kActivationEpilogueMinK && (!gated || blocked_w13);
}

void grouped_gemm_bf16(const GroupedGemmProblem& problem, void* workspace, size_t workspace_bytes,
                       Stream stream) {
  if (problem.output == GroupedOutput::kActivation) {
    if (problem.tile == GroupedTile::k64x256) {
      return grouped_gemm_bf16_64x256_activation(problem, workspace, workspace_bytes, stream);
    }
    throw Error(ErrorKind::kInternal, "fusedmoe: the activation epilogue runs on the 64x256 grouped "
                                      "tile only (ask grouped_tile_fuses_activation first)");
  }
  switch (problem.tile) {
    case GroupedTile::k64x128: return grouped_gemm_bf16_64x128(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k128x128: return grouped_gemm_bf16_128x128(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k128x256: return grouped_gemm_bf16_128x256(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k64x256: return grouped_gemm_bf16_64x256(problem, workspace, workspace_bytes, stream);
    case GroupedTile::k256x128: break;
  }
  grouped_gemm_bf16_256x128(problem, workspace, workspace_bytes, stream);
}

}  // namespace fusedmoe::sm90
