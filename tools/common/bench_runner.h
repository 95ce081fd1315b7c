// One row of `fusedmoe bench`: a layer's entry point at M tokens, timed as CUDA-graph replays.
//
//   routed  moe_routed given top-k ids and weights that moe_route computed beforehand with
//           softmax -> top-k + renormalize on N(0, 1) logits (the Triton peer's routing), outside
//           the timed region (or read from a file: BenchRowOptions::routing_file). The time
//           covers dispatch, both GEMMs and combine.
//   fused   moe_fused with the preset's own routing on N(0, 1) logits (plus the preset's biases):
//           routing is timed too.
// Input sets rotate (bench_rotation_sets) so that small working sets do not sit in L2; each set
// has its own graph. Every output starts poisoned with NaN and is checked after the replays.
#pragma once

#include <cstdint>
#include <string>

#include "common/bench_layer.h"
#include "common/bench_shapes.h"
#include "common/graph_timing.h"

namespace fusedmoe::tools {

struct BenchRowOptions {
  BenchEntry entry = BenchEntry::kRouted;
  int32_t max_sets = 8;  // 1: one input set replayed, like the peer
  ExpertKernel expert_kernel = ExpertKernel::kAuto;
  int32_t tactic = -1;        // PlanOptions::tactic
  int32_t gemm2_tactic = -1;  // PlanOptions::gemm2_tactic
  TokenGather token_gather = TokenGather::kAuto;
  // Routed entry only: every input set's ids and weights come from this file (routing_file.h)
  // instead of moe_route, e.g. the Triton peer's own routing for a same-work comparison.
  std::string routing_file;
  ReplayOptions replay;
};

struct BenchMeasurement {
  double seconds = 0.0;          // median replay
  double fastest_seconds = 0.0;
  double slowest_seconds = 0.0;
  double experts_hit = 0.0;      // mean over the sets
  int32_t sets = 0;
  int64_t samples = 0;
  int64_t nonfinite_outputs = 0;  // elements of the outputs left NaN / Inf (must be 0)
};

// The routing the entry uses: the peer's softmax -> top-k renormalized for routed, the preset's
// own for fused.
RoutingConfig bench_routing(const LayerSpec& spec, BenchEntry entry);

// Throws fusedmoe::Error: kUnsupported when the backend refuses the layer, kCuda when device
// memory runs out or CUDA fails.
BenchMeasurement measure_bench_row(const BenchLayer& layer, int64_t tokens,
                                   const BenchRowOptions& options, Stream stream);

}  // namespace fusedmoe::tools
