// The figures of one `fusedmoe bench` row, with the Triton peer's accounting
// (../shared/peers/triton_moe.py) so the two tables compare one to one:
//   matrices = 3 for gated activations (gate, up, down), 2 for non-gated (up, down)
//   bytes    = experts_hit · matrices · H · I · 2  (bf16 weights of the experts hit)
//              + M · H · 4                          (bf16 hidden states in, output out)
//   FLOPs    = 2 · matrices · M · top_k · H · I     (both GEMMs, every routed slot)
//   floor    = max(bytes / read bandwidth, FLOPs / bf16 matrix rate)
//   % floor  = floor / time · 100;  TF/s = FLOPs / time;  TB/s = bytes / time
// Router logits and routing work are outside the count, as in the peer: the fused entry's
// routing is time the floor does not credit.
#pragma once

#include <cstdint>

#include "common/roofline.h"
#include "fusedmoe/config.h"

namespace fusedmoe::tools {

struct BenchCost {
  double bytes = 0.0;
  double flops = 0.0;
};

// `experts_hit`: distinct experts the routing selects (a mean when several input sets rotate).
BenchCost bench_cost(const MoeConfig& moe, double experts_hit, int64_t tokens);

struct BenchFigures {
  double memory_seconds = 0.0;   // bytes / read bandwidth
  double compute_seconds = 0.0;  // FLOPs / bf16 rate
  double floor_seconds = 0.0;    // the larger of the two
  double percent_of_floor = 0.0;
  double tflops = 0.0;      // 1e12 FLOP/s achieved
  double tbytes = 0.0;      // 1e12 B/s achieved
  bool memory_bound = true;  // the bytes term sets the floor
};

// Throws fusedmoe::Error (kInvalidArgument) naming `seconds` or the ceiling that is not > 0.
BenchFigures bench_figures(const BenchCost& cost, const Ceilings& ceilings, double seconds);

// How many input sets to rotate so the replays do not time the L2 cache (METHOD.md): enough
// that the bytes the sets touch together reach 4x L2, at most `max_sets`, at most what
// `spare_bytes` holds at `set_bytes` each, at least 1.
//   touched_bytes  what one call reads (bench_cost(...).bytes)
//   set_bytes      device memory one more input set takes
int32_t bench_rotation_sets(double touched_bytes, double l2_bytes, double set_bytes,
                            double spare_bytes, int32_t max_sets);

}  // namespace fusedmoe::tools
