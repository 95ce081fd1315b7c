// Times calls of a library entry point as CUDA-graph replays (METHOD.md: warm up, capture, replay,
// median of event-timed replays). Several calls (one per input set) rotate, so that a benchmark
// whose working set fits in L2 does not time the cache.
#pragma once

#include <functional>
#include <vector>

#include "fusedmoe/moe.h"

namespace fusedmoe::tools {

enum class ReplayTiming {
  // Each replay alone: record, launch, record, wait (what the Triton peer does); the time
  // includes the graph's launch latency on an idle GPU.
  kIsolated,
  // Replays queued back to back, each between its own events: device time only.
  kBackToBack,
};

struct ReplayOptions {
  int warmup_rounds = 5;   // untimed rounds over every graph after capture
  int timed_rounds = 50;   // timed rounds; samples = timed_rounds · calls
  ReplayTiming timing = ReplayTiming::kIsolated;
};

// Each call enqueues one run on the stream it is given. Every call runs once eagerly (module
// load, validation), is captured into its own graph, then the graphs replay round-robin on
// `stream`. Returns every timed replay in seconds, in replay order. Throws fusedmoe::Error.
std::vector<double> time_graph_replays(const std::vector<std::function<void(Stream)>>& calls,
                                       const ReplayOptions& options, Stream stream);

// Median of `samples` (the upper middle for an even count); 0 for none.
double median_of(std::vector<double> samples);

}  // namespace fusedmoe::tools
