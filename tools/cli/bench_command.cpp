// `fusedmoe bench`: for each shape (a preset at a TP degree) and token count, times the routed
// (or fused) entry point on bf16 weights generated on the GPU, as CUDA-graph replays, and reports
// time, % of the roofline floor from ceilings measured first in the same run, TF/s and TB/s
// (bench_runner.h says what is timed, bench_figures.h how the floor is counted). The Triton peer
// runs beside it through bench/bench_moe.py.
#include <cuda_runtime_api.h>

#include <cstdio>
#include <exception>
#include <memory>
#include <optional>

#include "cli/bench_report.h"
#include "cli/commands.h"
#include "cli/options.h"
#include "common/bench_figures.h"
#include "common/bench_layer.h"
#include "common/bench_runner.h"
#include "common/bench_shapes.h"
#include "common/ceilings.h"
#include "common/cuda_check.h"
#include "common/routing_file.h"
#include "common/tool_error.h"
#include "common/weight_formats.h"

namespace fusedmoe::cli {
namespace {

struct BenchRequest {
  std::vector<tools::BenchShape> shapes;
  std::vector<int32_t> tokens;
  tools::BenchRowOptions row;
  std::string csv_path;
  uint64_t seed = 0;
  // --routing-dir: each row's ids and weights from <dir>/<shape label>_M<tokens>.bin.
  std::string routing_dir;
};

ExpertKernel parse_expert_kernel(const std::string& name) {
  for (const ExpertKernel kernel :
       {ExpertKernel::kAuto, ExpertKernel::kWeightStreaming, ExpertKernel::kGroupedTile}) {
    if (name == expert_kernel_name(kernel)) return kernel;
  }
  throw tools::UsageError("--expert-kernel '" + name + "': expected auto|weight-streaming|grouped-tile");
}

TokenGather parse_token_gather(const std::string& name) {
  for (const TokenGather gather : {TokenGather::kAuto, TokenGather::kCopy, TokenGather::kIndex}) {
    if (name == token_gather_name(gather)) return gather;
  }
  throw tools::UsageError("--token-gather '" + name + "': expected auto|copy|index");
}

tools::ReplayTiming parse_timing(const std::string& name) {
  if (name == "isolated") return tools::ReplayTiming::kIsolated;
  if (name == "back-to-back") return tools::ReplayTiming::kBackToBack;
  throw tools::UsageError("--timing '" + name + "': expected isolated|back-to-back");
}

BenchRequest parse_bench_request(const std::vector<std::string>& args) {
  const Options options(args,
                        {"model", "tp", "tokens", "entry", "iterations", "warmup", "csv", "seed",
                         "rotate", "timing", "expert-kernel", "tactic", "gemm2-tactic", "token-gather",
                         "routing-dir"},
                        {});
  BenchRequest request;
  const int32_t tp = static_cast<int32_t>(options.get_int("tp", 1, 1, 1024));
  if (options.has("model")) {
    request.shapes = tools::parse_bench_shapes(options.get("model", ""), tp);
  } else if (options.has("tp")) {
    throw tools::UsageError("--tp needs --model (the default shapes fix their own TP degree)");
  } else {
    request.shapes = tools::default_bench_shapes();
  }
  request.tokens = options.has("tokens") ? tools::parse_token_list(options.get("tokens", ""))
                                         : tools::default_bench_tokens();
  request.row.entry = tools::parse_bench_entry(options.get("entry", "routed"));
  request.row.replay.timed_rounds = static_cast<int>(options.get_int("iterations", 50, 1, 100000));
  request.row.replay.warmup_rounds = static_cast<int>(options.get_int("warmup", 5, 0, 100000));
  request.row.replay.timing = parse_timing(options.get("timing", "isolated"));
  request.row.max_sets = static_cast<int32_t>(options.get_int("rotate", 8, 1, 64));
  request.row.expert_kernel = parse_expert_kernel(options.get("expert-kernel", "auto"));
  request.row.tactic = static_cast<int32_t>(options.get_int("tactic", -1, -1, 4));
  request.row.gemm2_tactic = static_cast<int32_t>(options.get_int("gemm2-tactic", -1, -1, 4));
  request.row.token_gather = parse_token_gather(options.get("token-gather", "auto"));
  request.routing_dir = options.get("routing-dir", "");
  if (!request.routing_dir.empty() && request.row.entry != tools::BenchEntry::kRouted) {
    throw tools::UsageError("--routing-dir needs --entry routed (the fused entry routes itself)");
  }
  request.csv_path = options.get("csv", "");
  request.seed = options.get_seed("seed");
  return request;
}

void print_request(const BenchRequest& request) {
  const char* routing =
      request.row.entry == tools::BenchEntry::kRouted
          ? "moe_routed; ids/weights from moe_route (softmax->top-k, renormalized) on N(0,1) fp32 "
            "logits, outside the timed region"
          : "moe_fused; the preset's own routing on N(0,1) fp32 logits, timed";
  std::printf("entry     %s\n", routing);
  if (!request.routing_dir.empty()) {
    std::printf("routing   ids and weights read from %s/<shape>_M<tokens>.bin instead (same for every "
                "input set)\n",
                request.routing_dir.c_str());
  }
  std::printf("experts   expert kernel %s, tactic %d, gemm2 tactic %d, token gather %s\n",
              expert_kernel_name(request.row.expert_kernel), request.row.tactic, request.row.gemm2_tactic,
              token_gather_name(request.row.token_gather));
  std::printf("data      bf16 weights N(0,1)*%.2g and hidden states N(0,1), generated on the GPU "
              "(seed %llu)\n",
              static_cast<double>(tools::kBenchWeightStddev),
              static_cast<unsigned long long>(request.seed));
  std::printf("timing    CUDA-graph replays (%s), median of %d rounds x input sets (up to %d "
              "sets rotate so that 4x L2 is touched), after %d warm-up rounds\n",
              request.row.replay.timing == tools::ReplayTiming::kIsolated
                  ? "isolated: record, launch, record, wait"
                  : "back to back",
              request.row.replay.timed_rounds, request.row.max_sets,
              request.row.replay.warmup_rounds);
  std::printf("floor     max((hit*mats*H*I*2 + M*H*4) / read, 2*mats*M*k*H*I / bf16 rate), "
              "mats = 3 gated, 2 non-gated\n");
}

// Runs one token count; every failure becomes the row's status so the other rows still run.
BenchRow bench_row(const tools::BenchLayer& layer, const tools::BenchShape& shape, int32_t tokens,
                   const BenchRequest& request, const tools::Ceilings& ceilings,
                   cudaStream_t stream) {
  BenchRow row;
  row.shape = shape;
  row.entry = request.row.entry;
  row.tokens = tokens;
  try {
    tools::BenchRowOptions options = request.row;
    if (!request.routing_dir.empty()) {
      options.routing_file = tools::routing_file_path(request.routing_dir, shape.label(), tokens);
    }
    row.measurement = tools::measure_bench_row(layer, tokens, options, stream);
    row.figures = tools::bench_figures(
        tools::bench_cost(layer.moe(), row.measurement.experts_hit, tokens), ceilings,
        row.measurement.seconds);
    if (row.measurement.nonfinite_outputs != 0) {
      row.status = "nonfinite output: " + std::to_string(row.measurement.nonfinite_outputs);
    }
  } catch (const Error& error) {
    row.measurement = tools::BenchMeasurement{};
    row.status = std::string(error.kind() == ErrorKind::kUnsupported ? "unsupported: " : "error: ") +
                 error.what();
    cudaGetLastError();  // a failed launch leaves its error behind; the next row starts clean
  } catch (const std::exception& error) {  // host allocation: this row fails, the next may fit
    row.measurement = tools::BenchMeasurement{};
    row.status = std::string("error: ") + error.what();
  }
  return row;
}

struct StreamOwner {
  cudaStream_t stream = nullptr;
  StreamOwner() { tools::check_cuda_call(cudaStreamCreate(&stream), "cudaStreamCreate"); }
  ~StreamOwner() { cudaStreamDestroy(stream); }
  StreamOwner(const StreamOwner&) = delete;
  StreamOwner& operator=(const StreamOwner&) = delete;
};

}  // namespace

int bench_command(const std::vector<std::string>& args) {
  const BenchRequest request = parse_bench_request(args);
  std::unique_ptr<BenchCsv> csv;
  if (!request.csv_path.empty()) csv = std::make_unique<BenchCsv>(request.csv_path);
  const DeviceInfo device = cuda_device_info(0);
  if (!device.available || device.compute_capability != 90) {
    std::fprintf(stderr, "fusedmoe bench: needs an sm_90 (Hopper) CUDA device; %s\n",
                 device.available ? ("found " + device.name).c_str() : device.reason.c_str());
    return kExitUsage;
  }
  const StreamOwner owner;
  const tools::CeilingOptions ceiling_options;
  const tools::MeasuredCeilings measured = tools::measure_ceilings(ceiling_options, owner.stream);
  print_ceilings(measured, ceiling_options);
  print_request(request);

  print_table_header();
  int failed_rows = 0;
  for (const tools::BenchShape& shape : request.shapes) {
    tools::Parallelism parallelism;
    parallelism.tp = shape.tp;
    tools::LayerSpec spec = tools::slice_preset(tools::find_preset(shape.model), parallelism);
    tools::apply_weight_format(spec.moe, WeightFormat::kBF16);
    std::optional<tools::BenchLayer> layer;
    std::string layer_error;
    try {
      layer.emplace(spec, request.seed, owner.stream);
    } catch (const std::exception& error) {
      char size[32];
      std::snprintf(size, sizeof(size), "%.1f GB",
                    static_cast<double>(tools::BenchLayer::device_bytes(spec)) * 1e-9);
      layer_error = std::string("layer of ") + size + " not built: " + error.what();
      cudaGetLastError();
    }
    for (const int32_t tokens : request.tokens) {
      BenchRow row;
      if (layer) {
        row = bench_row(*layer, shape, tokens, request, measured.ceilings, owner.stream);
      } else {
        row.shape = shape;
        row.entry = request.row.entry;
        row.tokens = tokens;
        row.status = "error: " + layer_error;
      }
      if (row.status != "ok") ++failed_rows;
      print_table_row(row);
      if (csv) csv->write(row, measured.ceilings);
    }
  }
  if (failed_rows > 0) {
    std::printf("%d row(s) did not measure cleanly (see status)\n", failed_rows);
    return kExitFail;
  }
  return kExitPass;
}

}  // namespace fusedmoe::cli
