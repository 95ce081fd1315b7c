// BF16 expert compute: the sequence of launches behind bf16_experts.h.
#include "gemm/sm90/bf16_experts.h"

#include <cmath>
#include <string>

#include "core/check.h"
#include "core/workspace_layout.h"
#include "gemm/sm90/expert_activation.h"
#include "gemm/sm90/gather_gemm1.h"
#include "gemm/sm90/grouped_gemm_bf16.h"
#include "gemm/sm90/scale_rows.h"
#include "gemm/sm90/streaming_experts.h"
#include "prepare/bf16_w13_rows.h"

namespace fusedmoe::sm90 {
namespace {

int64_t gemm1_columns(const MoeConfig& moe) {
  return activation_is_gated(moe.activation) ? 2LL * moe.intermediate_size : moe.intermediate_size;
}

// The expert compute's scratch: GEMM1's output, the activation, the grouped GEMMs' arrays.
struct ExpertsLayout {
  size_t gemm1_out, activation_out, gemm_workspace, gemm_workspace_bytes, total;
};

ExpertsLayout experts_layout(const MoeConfig& moe, int64_t max_rows) {
  const size_t rows = static_cast<size_t>(max_rows);
  detail::WorkspaceLayout layout;
  ExpertsLayout offsets;
  offsets.gemm1_out = layout.take(rows * static_cast<size_t>(gemm1_columns(moe)) * 2);
  offsets.activation_out = layout.take(rows * static_cast<size_t>(moe.intermediate_size) * 2);
  offsets.gemm_workspace_bytes = grouped_gemm_bf16_workspace_bytes(moe.local_experts());
  offsets.gemm_workspace = layout.take(offsets.gemm_workspace_bytes);
  offsets.total = layout.total();
  return offsets;
}

GroupedGemmProblem grouped_problem(const ExpertRows& rows, GroupedTile tile, int64_t n, int64_t k,
                                   const void* a, const void* b, void* d) {
  GroupedGemmProblem problem;
  problem.tile = tile;
  problem.rows = rows;
  problem.n = n;
  problem.k = k;
  problem.a = a;
  problem.b = b;
  problem.d = d;
  return problem;
}

bool has_expert_biases(const ExpertWeights& weights) {
  return weights.w13_bias.defined() || weights.w2_bias.defined();
}

// Weight streaming re-reads an expert's weights once per token tile and runs mma.sync; past this
// many rows per expert on average the grouped tile GEMM (wgmma) wins. Measured on an H100
// (docs/PERF.md): streaming wins at 16 rows per expert on every preset and loses at 32
// (DeepSeek-V3, MiniMax-M2 M = 1024) to the 64x128 grouped tile.
constexpr double kStreamingMaxMeanRows = 16.0;

void run_streaming(const MoeConfig& moe, const ExpertWeights& weights, const Bf16ExpertsCall& call,
                   int token_tile, void* activation_out, Stream stream) {
  StreamingGemmParams gemm1;
  gemm1.rows = call.rows;
  gemm1.max_active_experts = static_cast<int32_t>(
      call.rows.layout != GroupRows::kMasked && call.rows.max_rows < call.rows.num_experts
          ? call.rows.max_rows
          : call.rows.num_experts);
  gemm1.x = call.x;
  gemm1.x_slots = call.x_slots;
  gemm1.x_slots_top_k = call.x_slots_top_k;
  gemm1.x_row_stride = call.x_row_stride;
  gemm1.k = moe.hidden_size;
  gemm1.w = weights.w13.data;
  gemm1.w_rows = gemm1_columns(moe);
  gemm1.out = activation_out;
  gemm1.out_columns = moe.intermediate_size;
  gemm1.activation = moe.activation;
  gemm1.layout = prepared_gate_up_rows(moe);
  gemm1.alpha = moe.activation_params.alpha;
  gemm1.beta = moe.activation_params.beta;
  gemm1.clamp_limit = moe.activation_params.clamp_limit;
  gemm1.bias = weights.w13_bias.data;
  gemm1.bias_bf16 = weights.w13_bias.dtype == DType::kBFloat16;
  launch_streaming_gemm1(gemm1, token_tile, stream);

  StreamingGemmParams gemm2;
  gemm2.rows = call.rows;
  gemm2.max_active_experts = gemm1.max_active_experts;
  gemm2.x = activation_out;
  gemm2.k = moe.intermediate_size;
  gemm2.w = weights.w2.data;
  gemm2.w_rows = moe.hidden_size;
  gemm2.out = call.out;
  gemm2.out_columns = moe.hidden_size;
  gemm2.bias = weights.w2_bias.data;
  gemm2.bias_bf16 = weights.w2_bias.dtype == DType::kBFloat16;
  gemm2.row_weights = call.row_weights;
  gemm2.row_weights_bf16 = call.row_weights_bf16;
  gemm2.row_to_slot = call.row_to_slot;
  launch_streaming_gemm2(gemm2, token_tile, stream);
}

// The between-GEMMs activation of the grouped path when its GEMM1 epilogue cannot apply it.
void run_activation_kernel(const MoeConfig& moe, const ExpertRows& rows, const void* gemm1_out,
                           void* activation_out, Stream stream) {
  ExpertActivationParams activation;
  activation.rows = rows;
  activation.h = gemm1_out;
  activation.h_row_stride = gemm1_columns(moe);
  activation.a = activation_out;
  activation.intermediate_size = moe.intermediate_size;
  activation.gated = activation_is_gated(moe.activation);
  activation.layout = prepared_gate_up_rows(moe);
  activation.activation = moe.activation;
  activation.alpha = moe.activation_params.alpha;
  activation.beta = moe.activation_params.beta;
  activation.clamp_limit = moe.activation_params.clamp_limit;
  launch_expert_activation(activation, stream);
}

// Token rows per tile of the gathering GEMM1 (gather_gemm1.h) that stands in for a grouped tile's
// GEMM1; 0 for the tiles it does not have.
int gather_gemm1_tile_rows(GroupedTile tile) {
  switch (tile) {
    case GroupedTile::k128x256: return 128;
    case GroupedTile::k64x256: return 64;
    default: return 0;
  }
}

// GEMM1 reading the token rows by index (ExpertsPath::gemm1_reads_rows_by_index); the activation
// runs in its epilogue unless a gated w13 kept the checkpoint order.
void run_gather_gemm1(const MoeConfig& moe, const ExpertWeights& weights, const Bf16ExpertsCall& call,
                      GroupedTile tile, void* gemm1_out, void* activation_out, Stream stream) {
  GatherGemm1Params gemm1;
  gemm1.tile_rows = gather_gemm1_tile_rows(tile);
  gemm1.rows = call.rows;
  gemm1.x = call.x;
  gemm1.x_row_stride = call.x_row_stride > 0 ? call.x_row_stride : moe.hidden_size;
  gemm1.row_to_slot = call.x_slots;
  gemm1.top_k = call.x_slots_top_k;
  gemm1.k = moe.hidden_size;
  gemm1.w = weights.w13.data;
  gemm1.n = gemm1_columns(moe);
  gemm1.activation = moe.activation;
  gemm1.alpha = moe.activation_params.alpha;
  gemm1.beta = moe.activation_params.beta;
  gemm1.clamp_limit = moe.activation_params.clamp_limit;
  const bool gated = activation_is_gated(moe.activation);
  if (gated && !bf16_w13_blocked(moe)) {
    gemm1.out = gemm1_out;
    gemm1.out_columns = gemm1.n;
    gemm1.output = GatherGemm1Output::kProduct;
    launch_gather_gemm1(gemm1, stream);
    run_activation_kernel(moe, call.rows, gemm1_out, activation_out, stream);
    return;
  }
  gemm1.out = activation_out;
  gemm1.out_columns = moe.intermediate_size;
  gemm1.output = gated ? GatherGemm1Output::kGatedActivation : GatherGemm1Output::kSingleActivation;
  launch_gather_gemm1(gemm1, stream);
}

GroupedTileContext current_tile_context(const MoeConfig& moe) {
  GroupedTileContext context;
  context.intermediate_size = moe.intermediate_size;
  context.bandwidth = current_peak_bandwidth();
  return context;
}

}  // namespace

ExpertsPath choose_experts_path(const ExpertRows& rows, ExpertKernel requested, int32_t tactic,
                                bool biases, const GroupedTileContext& tile_context, int32_t gemm2_tactic) {
  // Rows per expert: the masked capacity, or the mean of the contiguous buffer's rows. Routing
  // spreads them unevenly; the token tile covers the mean plus two standard deviations of a
  // uniform routing, and a busier expert runs more tiles. Forced-tile sweep on an H100
  // (docs/PERF.md): at 8 rows per expert the 16-token tile is best (8 tokens: +23-40 %), at 16
  // rows the 32-token tile (16 tokens: +28 %); below that 8 and 16 tie.
  const double most = rows.layout == GroupRows::kMasked ? static_cast<double>(rows.capacity)
                                                          : static_cast<double>(rows.max_rows);
  const double mean = rows.layout == GroupRows::kMasked
                          ? most
                          : most / static_cast<double>(rows.num_experts > 0 ? rows.num_experts : 1);
  ExpertsPath path;
  path.kernel = requested;
  if (requested == ExpertKernel::kAuto) {
    path.kernel = biases || mean <= kStreamingMaxMeanRows ? ExpertKernel::kWeightStreaming
                                                          : ExpertKernel::kGroupedTile;
  }
  if (path.kernel == ExpertKernel::kWeightStreaming) {
    const double expected_most = std::fmin(most, mean + 2.0 * std::sqrt(mean) + 1.0);
    path.token_tile = tactic >= 0 ? 8 << tactic
                                  : streaming_token_tile(static_cast<int64_t>(std::ceil(expected_most)));
  } else {
    path.grouped_tile = tactic >= 0 ? static_cast<GroupedTile>(tactic) : grouped_tile_for_rows(mean, tile_context);
    path.gemm2_tile = gemm2_tactic >= 0 ? static_cast<GroupedTile>(gemm2_tactic) : path.grouped_tile;
    // Reading the rows by index saves dispatch's copy (M * top_k * H * 2 bytes written, then read)
    // but feeds the wgmma slower than CUTLASS's TMA loads (A/B on an H100, docs/PERF.md): it wins
    // where GEMM1 is memory-bound, narrow experts under 256 rows (DeepSeek-V3 TP8 M = 1024 on the
    // 64x256 tile: -4 %; M = 2048 / 4096 on 128x256: -9 / -12 %). Wide experts keep the copy:
    // on the 128x256 tile it is a tie (M = 16384: Qwen3-30B-A3B -2 %, DeepSeek-V3 +1 %, MiniMax-M2
    // +3 %; Qwen3 M = 4096 / 8192 -3 / +3 %; Mixtral +5..7 %), and the 64-row tile, one consumer
    // warpgroup, loses (M = 2048: Qwen3 +7 %, MiniMax-M2 +15 %; DeepSeek-V3 M = 4096 +23 %). From
    // 256 rows per expert narrow GEMM1s turn compute-bound too (not measured yet): they keep the
    // copy. Measured on H100s only: an H200 (4.8 TB/s) pays less for the copy and keeps it.
    constexpr double kGatherMaxMeanRows = 256.0;
    path.gemm1_reads_rows_by_index = gather_gemm1_tile_rows(path.grouped_tile) > 0 &&
                                     tile_context.bandwidth == PeakBandwidth::kBelow4TBps &&
                                     tile_context.intermediate_size <= kNarrowIntermediate &&
                                     mean < kGatherMaxMeanRows;
  }
  return path;
}

bool experts_path_reads_rows_by_index(const ExpertsPath& path, TokenGather gather) {
  if (gather == TokenGather::kCopy) return false;
  if (path.kernel == ExpertKernel::kWeightStreaming) return true;
  if (gather == TokenGather::kIndex) return gather_gemm1_tile_rows(path.grouped_tile) > 0;
  return path.gemm1_reads_rows_by_index;
}

ExpertsPath bf16_experts_path(const MoeConfig& moe, const ExpertRows& rows, const ExpertWeights& weights,
                              ExpertKernel requested, int32_t tactic, int32_t gemm2_tactic) {
  return choose_experts_path(rows, requested, tactic, has_expert_biases(weights), current_tile_context(moe),
                             gemm2_tactic);
}

std::string bf16_experts_unsupported_reason(const MoeConfig& moe) {
  if (moe.weight_format != WeightFormat::kBF16) {
    return std::string("no sm90 expert GEMM kernel for weight format '") +
           weight_format_name(moe.weight_format) +
           "' in this build yet (CUDA expert compute covers bf16 only); the CPU reference "
           "(Backend::kCpuReference) runs every format";
  }
  if (moe.activation_quant != ActivationQuant::kNone) {
    return std::string("bf16 expert GEMMs take unquantized activations; activation_quant '") +
           activation_quant_name(moe.activation_quant) + "' is not supported with bf16 weights";
  }
  if (moe.hidden_size % 8 != 0 || moe.intermediate_size % 8 != 0) {
    return "the sm90 bf16 expert GEMMs need hidden_size and intermediate_size to be multiples of "
           "8 (16-byte TMA rows); got hidden_size " + std::to_string(moe.hidden_size) +
           ", intermediate_size " + std::to_string(moe.intermediate_size);
  }
  return {};
}

std::string bf16_weights_unsupported_reason(const ExpertWeights& weights, ExpertKernel requested) {
  if (has_expert_biases(weights) && requested == ExpertKernel::kGroupedTile) {
    return "expert biases (w13_bias / w2_bias) run on the weight-streaming expert kernel only "
           "(its epilogue adds them before rounding); the grouped tile GEMM has no bias epilogue "
           "yet: use ExpertKernel::kAuto or kWeightStreaming";
  }
  return {};
}

size_t bf16_experts_workspace_bytes(const MoeConfig& moe, int64_t max_rows) {
  return experts_layout(moe, max_rows).total;
}

void run_bf16_experts(const MoeConfig& moe, const ExpertWeights& weights, const Bf16ExpertsCall& call,
                      void* workspace, size_t workspace_bytes, Stream stream) {
  const std::string reason = bf16_experts_unsupported_reason(moe);
  if (!reason.empty()) detail::throw_unsupported(reason);
  const std::string weights_reason = bf16_weights_unsupported_reason(weights, call.kernel);
  if (!weights_reason.empty()) detail::throw_unsupported(weights_reason);
  const ExpertsLayout layout = experts_layout(moe, call.rows.max_rows);
  if (workspace_bytes < layout.total) {
    detail::throw_invalid("workspace", "at least " + std::to_string(layout.total) + " bytes",
                          std::to_string(workspace_bytes) + " bytes");
  }
  if (call.rows.max_rows == 0) return;

  const int64_t hidden = moe.hidden_size;
  const int64_t inter = moe.intermediate_size;
  const int64_t n1 = gemm1_columns(moe);
  char* base = static_cast<char*>(workspace);
  void* gemm1_out = base + layout.gemm1_out;
  void* activation_out = base + layout.activation_out;
  void* gemm_workspace = base + layout.gemm_workspace;
  const size_t gemm_workspace_bytes = layout.gemm_workspace_bytes;

  const ExpertsPath path =
      call.path ? *call.path
                : bf16_experts_path(moe, call.rows, weights, call.kernel, call.tactic, call.gemm2_tactic);
  if (call.rows.layout == GroupRows::kTopkIds && path.kernel != ExpertKernel::kWeightStreaming) {
    throw Error(ErrorKind::kInternal,
                "fusedmoe: expert rows listed from top-k ids reached the grouped tile GEMM, which "
                "needs dispatched rows (only weight streaming lists them)");
  }
  if (call.x_slots != nullptr && !experts_path_reads_rows_by_index(path, TokenGather::kIndex)) {
    throw Error(ErrorKind::kInternal,
                "fusedmoe: rows read by index (x_slots) on a grouped tile GEMM1 that needs them "
                "gathered (ask experts_path_reads_rows_by_index first)");
  }
  if (path.kernel == ExpertKernel::kWeightStreaming) {
    run_streaming(moe, weights, call, path.token_tile, activation_out, stream);
    return;
  }

  const bool gated = activation_is_gated(moe.activation);
  if (call.x_slots != nullptr) {
    run_gather_gemm1(moe, weights, call, path.grouped_tile, gemm1_out, activation_out, stream);
  } else if (grouped_tile_fuses_activation(path.grouped_tile, hidden, gated, bf16_w13_blocked(moe))) {
    // GEMM1 writes the activation from its epilogue: no [rows, 2I] round trip.
    GroupedGemmProblem gemm1 =
        grouped_problem(call.rows, path.grouped_tile, n1, hidden, call.x, weights.w13.data, activation_out);
    gemm1.d_columns = inter;
    gemm1.output = GroupedOutput::kActivation;
    gemm1.activation = moe.activation;
    gemm1.alpha = moe.activation_params.alpha;
    gemm1.beta = moe.activation_params.beta;
    gemm1.clamp_limit = moe.activation_params.clamp_limit;
    grouped_gemm_bf16(gemm1, gemm_workspace, gemm_workspace_bytes, stream);
  } else {
    grouped_gemm_bf16(grouped_problem(call.rows, path.grouped_tile, n1, hidden, call.x, weights.w13.data, gemm1_out),
                      gemm_workspace, gemm_workspace_bytes, stream);
    run_activation_kernel(moe, call.rows, gemm1_out, activation_out, stream);
  }

  grouped_gemm_bf16(grouped_problem(call.rows, path.gemm2_tile, hidden, inter, activation_out, weights.w2.data, call.out),
                    gemm_workspace, gemm_workspace_bytes, stream);

  if (call.row_weights != nullptr) {
    ScaleRowsParams scale;
    scale.rows = call.rows;
    scale.data = call.out;
    scale.row_stride = hidden;
    scale.columns = hidden;
    scale.weights = call.row_weights;
    scale.weights_bf16 = call.row_weights_bf16;
    scale.row_to_slot = call.row_to_slot;
    launch_scale_rows(scale, stream);
  }
}

}  // namespace fusedmoe::sm90
