#include "common/graph_timing.h"

#include <algorithm>
#include <memory>

#include "common/cuda_check.h"

namespace fusedmoe::tools {
namespace {

struct GraphDeleter {
  void operator()(CUgraph_st* graph) const { cudaGraphDestroy(graph); }
};
struct GraphExecDeleter {
  void operator()(CUgraphExec_st* exec) const { cudaGraphExecDestroy(exec); }
};
struct EventDeleter {
  void operator()(CUevent_st* event) const { cudaEventDestroy(event); }
};
using GraphExec = std::unique_ptr<CUgraphExec_st, GraphExecDeleter>;
using Event = std::unique_ptr<CUevent_st, EventDeleter>;

GraphExec capture(const std::function<void(Stream)>& call, Stream stream) {
  check_cuda_call(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal),
                  "cudaStreamBeginCapture");
  try {
    call(stream);
  } catch (...) {
    cudaGraph_t abandoned = nullptr;
    cudaStreamEndCapture(stream, &abandoned);
    if (abandoned != nullptr) cudaGraphDestroy(abandoned);
    throw;
  }
  cudaGraph_t raw_graph = nullptr;
  check_cuda_call(cudaStreamEndCapture(stream, &raw_graph), "cudaStreamEndCapture");
  const std::unique_ptr<CUgraph_st, GraphDeleter> graph(raw_graph);
  cudaGraphExec_t exec = nullptr;
  check_cuda_call(cudaGraphInstantiate(&exec, graph.get(), 0), "cudaGraphInstantiate");
  return GraphExec(exec);
}

Event make_event() {
  cudaEvent_t event = nullptr;
  check_cuda_call(cudaEventCreate(&event), "cudaEventCreate");
  return Event(event);
}

double elapsed_seconds(const Event& start, const Event& stop) {
  float milliseconds = 0.0f;
  check_cuda_call(cudaEventElapsedTime(&milliseconds, start.get(), stop.get()),
                  "cudaEventElapsedTime");
  return milliseconds * 1e-3;
}

}  // namespace

std::vector<double> time_graph_replays(const std::vector<std::function<void(Stream)>>& calls,
                                       const ReplayOptions& options, Stream stream) {
  for (const auto& call : calls) call(stream);
  check_cuda_call(cudaStreamSynchronize(stream), "cudaStreamSynchronize(eager run)");

  std::vector<GraphExec> graphs;
  for (const auto& call : calls) graphs.push_back(capture(call, stream));
  for (int round = 0; round < options.warmup_rounds; ++round) {
    for (const GraphExec& graph : graphs) {
      check_cuda_call(cudaGraphLaunch(graph.get(), stream), "cudaGraphLaunch(warm-up)");
    }
  }
  check_cuda_call(cudaStreamSynchronize(stream), "cudaStreamSynchronize(warm-up)");

  const size_t samples = static_cast<size_t>(options.timed_rounds) * graphs.size();
  std::vector<double> seconds;
  seconds.reserve(samples);
  if (options.timing == ReplayTiming::kIsolated) {
    const Event start = make_event();
    const Event stop = make_event();
    for (size_t i = 0; i < samples; ++i) {
      check_cuda_call(cudaEventRecord(start.get(), stream), "cudaEventRecord");
      check_cuda_call(cudaGraphLaunch(graphs[i % graphs.size()].get(), stream), "cudaGraphLaunch");
      check_cuda_call(cudaEventRecord(stop.get(), stream), "cudaEventRecord");
      check_cuda_call(cudaEventSynchronize(stop.get()), "cudaEventSynchronize");
      seconds.push_back(elapsed_seconds(start, stop));
    }
    return seconds;
  }
  std::vector<Event> events;
  for (size_t i = 0; i < 2 * samples; ++i) events.push_back(make_event());
  for (size_t i = 0; i < samples; ++i) {
    check_cuda_call(cudaEventRecord(events[2 * i].get(), stream), "cudaEventRecord");
    check_cuda_call(cudaGraphLaunch(graphs[i % graphs.size()].get(), stream), "cudaGraphLaunch");
    check_cuda_call(cudaEventRecord(events[2 * i + 1].get(), stream), "cudaEventRecord");
  }
  check_cuda_call(cudaStreamSynchronize(stream), "cudaStreamSynchronize(replays)");
  for (size_t i = 0; i < samples; ++i) seconds.push_back(elapsed_seconds(events[2 * i], events[2 * i + 1]));
  return seconds;
}

double median_of(std::vector<double> samples) {
  if (samples.empty()) return 0.0;
  const auto middle = samples.begin() + static_cast<std::ptrdiff_t>(samples.size() / 2);
  std::nth_element(samples.begin(), middle, samples.end());
  return *middle;
}

}  // namespace fusedmoe::tools
