// fusedmoe_bench_routing: times the stages around the expert GEMMs on the GPU, through the public
// API, for DeepSeek-V3 and Qwen3-30B-A3B at M = 1, 64, 4096, 16384, and measures the memory
// read-bandwidth ceiling in the same run.
//
//   route            moe_route (logits -> ids, weights)
//   route+maps       moe_route + moe_dispatch without the row gather (maps only)
//   route+dispatch   moe_route + moe_dispatch with the gather (bf16 copy, or FP8 1x128 quantize),
//                    row_alignment 16 into the smallest buffer validation allows (M*k + E*15 rows,
//                    every unused row zeroed as the contract says), and "align1": row_alignment 1
//                    into exactly M*k rows (nothing to zero)
//   combine          moe_combine of [R, H] bf16 expert rows with fp32 weights (+ rsf)
//
// Timing: each measured sequence is captured in a CUDA graph holding `unroll` back-to-back copies;
// a replay is timed with CUDA events; the table shows the median over `replays` replays divided by
// `unroll` (steady-state time per call, as inside a model's graph). "latency" is one copy per
// graph launch (graph launch included), median over replays. The inputs stay resident between
// replays, like a decode step's logits. Results are reported, not asserted.
//
// Usage: fusedmoe_bench_routing [--csv PATH] [--replays N] [--model NAME] [--tokens M]
//        [--no-ceiling]. --model / --tokens run one shape (for ncu). FUSEDMOE_DISABLE_PDL=1
// disables programmatic dependent launch (A/B).
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/limits.h"
#include "fusedmoe/moe.h"

namespace {

using namespace fusedmoe;

void cuda_check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) {
    throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(status));
  }
}

struct Buffer {
  void* data = nullptr;
  size_t bytes = 0;
  explicit Buffer(size_t size) : bytes(size) { cuda_check(cudaMalloc(&data, std::max<size_t>(size, 16)), "cudaMalloc"); }
  ~Buffer() { cudaFree(data); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  TensorView view(DType dtype, std::initializer_list<int64_t> shape) const {
    return make_view(data, dtype, shape, cuda_device(0));
  }
};

__device__ __forceinline__ uint32_t hash32(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return static_cast<uint32_t>(x);
}

// Approximately normal values (sum of 4 uniforms, centred) scaled by `scale`.
__device__ __forceinline__ float pseudo_normal(uint64_t index, uint64_t seed, float scale) {
  float sum = 0.0f;
  for (int i = 0; i < 4; ++i) sum += hash32(index * 4 + i + seed * 0x9e3779b97f4a7c15ull) * 2.3283064e-10f;
  return (sum - 2.0f) * 1.7320508f * scale;
}

__global__ void fill_f32(float* out, int64_t count, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = pseudo_normal(i, seed, scale);
  }
}

__global__ void fill_bf16(__nv_bfloat16* out, int64_t count, uint64_t seed, float scale) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    out[i] = __float2bfloat16_rn(pseudo_normal(i, seed, scale));
  }
}

// Streams `count` 16-byte vectors; the xor keeps the loads alive.
__global__ void read_bandwidth_kernel(const uint4* data, int64_t count, uint32_t* sink) {
  uint32_t acc = 0;
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < count; i += int64_t{gridDim.x} * blockDim.x) {
    const uint4 v = __ldcs(data + i);
    acc ^= v.x ^ v.y ^ v.z ^ v.w;
  }
  if (acc == 0x12345678u) sink[0] = acc;
}

struct Timer {
  cudaEvent_t start, stop;
  Timer() {
    cuda_check(cudaEventCreate(&start), "event");
    cuda_check(cudaEventCreate(&stop), "event");
  }
  ~Timer() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// Median time in microseconds of `body` per call: graph of `unroll` copies, `replays` replays.
double time_graph(cudaStream_t stream, const std::function<void()>& body, int unroll, int replays) {
  cudaGraph_t graph;
  cudaGraphExec_t exec;
  cuda_check(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal), "begin capture");
  for (int i = 0; i < unroll; ++i) body();
  cuda_check(cudaStreamEndCapture(stream, &graph), "end capture");
  cuda_check(cudaGraphInstantiate(&exec, graph, 0), "instantiate");
  Timer timer;
  std::vector<double> samples;
  for (int r = 0; r < replays + 3; ++r) {
    cuda_check(cudaEventRecord(timer.start, stream), "record");
    cuda_check(cudaGraphLaunch(exec, stream), "graph launch");
    cuda_check(cudaEventRecord(timer.stop, stream), "record");
    cuda_check(cudaEventSynchronize(timer.stop), "sync");
    float ms = 0.0f;
    cuda_check(cudaEventElapsedTime(&ms, timer.start, timer.stop), "elapsed");
    if (r >= 3) samples.push_back(ms * 1000.0 / unroll);
  }
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  return median(samples);
}

struct ModelShape {
  const char* name;
  int32_t experts;
  int32_t top_k;
  int32_t hidden;
  RoutingConfig routing;
  bool correction_bias;
  DType logits_dtype;
  ActivationQuant dispatch_quant;  // what the model's FP8 path quantizes to in dispatch
};

struct Row {
  std::string model, stage;
  int64_t tokens;
  double us, latency_us, gbps, percent_of_read;
};

class Bench {
 public:
  Bench(int replays, cudaStream_t stream) : replays_(replays), stream_(stream) {}

  double read_bandwidth_gbps() {
    const size_t bytes = size_t{4} << 30;
    Buffer data(bytes), sink(16);
    fill_f32<<<4096, 256, 0, stream_>>>(static_cast<float*>(data.data), bytes / 4, 7, 1.0f);
    const int64_t vectors = bytes / 16;
    auto body = [&] {
      read_bandwidth_kernel<<<132 * 16, 512, 0, stream_>>>(static_cast<const uint4*>(data.data), vectors,
                                                         static_cast<uint32_t*>(sink.data));
    };
    const double us = time_graph(stream_, body, 1, 20);
    return bytes / (us * 1e-6) / 1e9;
  }

  double copy_bandwidth_gbps() {
    const size_t bytes = size_t{2} << 30;
    Buffer a(bytes), b(bytes);
    auto body = [&] { cuda_check(cudaMemcpyAsync(b.data, a.data, bytes, cudaMemcpyDeviceToDevice, stream_), "copy"); };
    const double us = time_graph(stream_, body, 1, 20);
    return 2.0 * bytes / (us * 1e-6) / 1e9;  // read + write
  }

  void run_model(const ModelShape& shape, int64_t tokens, double read_gbps, std::vector<Row>& rows) {
    MoeConfig moe;
    moe.hidden_size = shape.hidden;
    moe.intermediate_size = 2048;
    moe.num_experts = shape.experts;
    moe.top_k = shape.top_k;
    moe.activation_quant = shape.dispatch_quant;
    moe.weight_format = shape.dispatch_quant == ActivationQuant::kFP8Group128 ? WeightFormat::kFP8Block128
                                                                             : WeightFormat::kBF16;
    PlanOptions options;
    options.max_num_tokens = static_cast<int32_t>(tokens);
    const MoePlan plan = make_plan(moe, shape.routing, options);
    const int64_t M = tokens, E = shape.experts, k = shape.top_k, H = shape.hidden;
    const int32_t alignment = 16;
    const int64_t R = detail::max_dispatch_rows(moe, M, alignment);
    const bool fp8 = shape.dispatch_quant == ActivationQuant::kFP8Group128;

    Buffer logits(M * E * dtype_size(shape.logits_dtype)), bias(E * 4), hidden(M * H * 2);
    Buffer ids(M * k * 4), weights(M * k * 4), offsets((E + 1) * 4), counts(E * 4), row_to_slot(R * 4),
        slot_to_row(M * k * 4), permuted(R * H * (fp8 ? 1 : 2)), scales(R * ((H + 127) / 128) * 4),
        expert_output(R * H * 2), output(M * H * 2), workspace(std::max<size_t>(plan.workspace_bytes, 16));
    if (shape.logits_dtype == DType::kFloat32) {
      fill_f32<<<1024, 256, 0, stream_>>>(static_cast<float*>(logits.data), M * E, 1, 2.0f);
    } else {
      fill_bf16<<<1024, 256, 0, stream_>>>(static_cast<__nv_bfloat16*>(logits.data), M * E, 1, 2.0f);
    }
    fill_f32<<<64, 256, 0, stream_>>>(static_cast<float*>(bias.data), E, 2, 0.05f);
    fill_bf16<<<4096, 256, 0, stream_>>>(static_cast<__nv_bfloat16*>(hidden.data), M * H, 3, 1.0f);
    fill_bf16<<<4096, 256, 0, stream_>>>(static_cast<__nv_bfloat16*>(expert_output.data), R * H, 4, 1.0f);

    RoutingInputs routing;
    routing.router_logits = logits.view(shape.logits_dtype, {M, E});
    if (shape.correction_bias) routing.correction_bias = bias.view(DType::kFloat32, {E});
    const Workspace ws{workspace.data, workspace.bytes};
    DispatchMaps maps;
    maps.expert_offsets = offsets.view(DType::kInt32, {E + 1});
    maps.expert_counts = counts.view(DType::kInt32, {E});
    maps.row_to_slot = row_to_slot.view(DType::kInt32, {R});
    maps.slot_to_row = slot_to_row.view(DType::kInt32, {M, k});
    const TensorView ids_view = ids.view(DType::kInt32, {M, k});
    const TensorView permuted_view = permuted.view(fp8 ? DType::kFloat8E4M3 : DType::kBFloat16, {R, H});
    const TensorView scale_view = fp8 ? scales.view(DType::kFloat32, {R, (H + 127) / 128}) : TensorView{};

    auto route = [&] { moe_route(plan, routing, ids_view, weights.view(DType::kFloat32, {M, k}), ws, stream_); };
    auto maps_only = [&] {
      moe_dispatch(plan, ids_view, alignment, maps, TensorView{}, TensorView{}, TensorView{}, ws, stream_);
    };
    auto gather = [&] {
      moe_dispatch(plan, ids_view, alignment, maps, hidden.view(DType::kBFloat16, {M, H}), permuted_view,
                   scale_view, ws, stream_);
    };
    // The same gather with row_alignment 1 into a buffer of exactly M * top_k rows: no segment
    // padding and no tail, so nothing to zero (the floor of what the zero-fill contract costs).
    DispatchMaps tight_maps = maps;
    tight_maps.row_to_slot = row_to_slot.view(DType::kInt32, {M * k});
    const TensorView tight_permuted = permuted.view(fp8 ? DType::kFloat8E4M3 : DType::kBFloat16, {M * k, H});
    const TensorView tight_scales = fp8 ? scales.view(DType::kFloat32, {M * k, (H + 127) / 128}) : TensorView{};
    auto gather_tight = [&] {
      moe_dispatch(plan, ids_view, 1, tight_maps, hidden.view(DType::kBFloat16, {M, H}), tight_permuted,
                   tight_scales, ws, stream_);
    };
    CombineInputs combine_inputs;
    combine_inputs.expert_output = expert_output.view(DType::kBFloat16, {R, H});
    combine_inputs.slot_to_row = slot_to_row.view(DType::kInt32, {M, k});
    combine_inputs.topk_weights = weights.view(DType::kFloat32, {M, k});
    auto combine = [&] { moe_combine(plan, combine_inputs, output.view(DType::kBFloat16, {M, H}), stream_); };

    // Warm-up (also fills the maps that combine reads).
    route();
    gather();
    combine();
    cuda_check(cudaStreamSynchronize(stream_), "warm-up");

    const int unroll = M <= 64 ? 20 : 3;
    const bool small = M <= 64;
    auto add = [&](const char* stage, const std::function<void()>& body, double bytes) {
      Row row;
      row.model = shape.name;
      row.stage = stage;
      row.tokens = M;
      row.us = time_graph(stream_, body, unroll, replays_);
      row.latency_us = small ? time_graph(stream_, body, 1, replays_) : row.us;
      row.gbps = bytes > 0 ? bytes / (row.us * 1e-6) / 1e9 : 0.0;
      row.percent_of_read = bytes > 0 ? 100.0 * row.gbps / read_gbps : 0.0;
      rows.push_back(row);
      std::printf("%-14s %-24s M=%-6lld %10.2f us  latency %9.2f us  %8.1f GB/s  %5.1f%% of read\n",
                  row.model.c_str(), row.stage.c_str(), static_cast<long long>(M), row.us, row.latency_us,
                  row.gbps, row.percent_of_read);
      std::fflush(stdout);
    };
    add("route", route, 0);
    add("route+maps", [&] { route(); maps_only(); }, 0);
    const double gather_bytes = static_cast<double>(M) * H * 2 + static_cast<double>(M) * k * H * (fp8 ? 1 : 2);
    add(fp8 ? "route+dispatch(fp8-g128)" : "route+dispatch(bf16)", [&] { route(); gather(); }, gather_bytes);
    add(fp8 ? "route+dispatch(fp8)align1" : "route+dispatch(bf16)align1", [&] { route(); gather_tight(); },
        gather_bytes);
    const double combine_bytes = static_cast<double>(M) * k * H * 2 + static_cast<double>(M) * H * 2;
    add("combine", combine, combine_bytes);
  }

 private:
  int replays_;
  cudaStream_t stream_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string csv_path;
  std::string only_model;
  int64_t only_tokens = 0;
  bool ceiling = true;
  int replays = 30;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--csv") == 0 && i + 1 < argc) csv_path = argv[++i];
    else if (std::strcmp(argv[i], "--replays") == 0 && i + 1 < argc) replays = std::atoi(argv[++i]);
    else if (std::strcmp(argv[i], "--model") == 0 && i + 1 < argc) only_model = argv[++i];
    else if (std::strcmp(argv[i], "--tokens") == 0 && i + 1 < argc) only_tokens = std::atoll(argv[++i]);
    else if (std::strcmp(argv[i], "--no-ceiling") == 0) ceiling = false;
  }
  try {
    const DeviceInfo device = cuda_device_info(0);
    if (!device.available) {
      std::printf("no usable GPU: %s\n", device.reason.c_str());
      return 0;
    }
    const char* pdl = std::getenv("FUSEDMOE_DISABLE_PDL");
    std::printf("device: %s (%d SMs), fusedmoe %s, PDL %s\n", device.name.c_str(), device.multiprocessor_count,
                version(), (pdl != nullptr && std::strcmp(pdl, "1") == 0) ? "off" : "on");
    cudaStream_t stream;
    cuda_check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "stream");
    Bench bench(replays, stream);
    double read_gbps = 3000.0;
    if (ceiling) {
      read_gbps = bench.read_bandwidth_gbps();
      const double copy_gbps = bench.copy_bandwidth_gbps();
      std::printf("ceiling: read %.0f GB/s (4 GiB streamed), device copy %.0f GB/s (read + write)\n",
                  read_gbps, copy_gbps);
    }

    ModelShape deepseek{"deepseek-v3", 256, 8, 7168, {}, true, DType::kFloat32, ActivationQuant::kFP8Group128};
    deepseek.routing.method = RoutingMethod::kSigmoidGroupedTopK;
    deepseek.routing.n_group = 8;
    deepseek.routing.topk_group = 4;
    deepseek.routing.renormalize = true;
    deepseek.routing.routed_scaling_factor = 2.5f;
    ModelShape qwen{"qwen3-30b-a3b", 128, 8, 2048, {}, false, DType::kBFloat16, ActivationQuant::kNone};
    qwen.routing.method = RoutingMethod::kSoftmaxTopK;
    qwen.routing.renormalize = true;

    std::vector<Row> rows;
    for (const ModelShape& shape : {deepseek, qwen}) {
      if (!only_model.empty() && only_model != shape.name) continue;
      for (int64_t tokens : {1, 64, 4096, 16384}) {
        if (only_tokens != 0 && only_tokens != tokens) continue;
        bench.run_model(shape, tokens, read_gbps, rows);
      }
    }
    if (!csv_path.empty()) {
      FILE* csv = std::fopen(csv_path.c_str(), "w");
      if (csv != nullptr) {
        std::fprintf(csv, "model,stage,tokens,us,latency_us,gbps,percent_of_read\n");
        for (const Row& row : rows) {
          std::fprintf(csv, "%s,%s,%lld,%.3f,%.3f,%.1f,%.1f\n", row.model.c_str(), row.stage.c_str(),
                       static_cast<long long>(row.tokens), row.us, row.latency_us, row.gbps, row.percent_of_read);
        }
        std::fclose(csv);
      }
    }
    cudaStreamDestroy(stream);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "fusedmoe_bench_routing: %s\n", error.what());
    return 1;
  }
  return 0;
}
