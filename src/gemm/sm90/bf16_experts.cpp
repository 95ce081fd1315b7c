// BF16 expert compute: the sequence of launches behind bf16_experts.h.
#include "gemm/sm90/bf16_experts.h"

#include <string>

#include "core/check.h"
#include "core/workspace_layout.h"
#include "gemm/sm90/expert_activation.h"
#include "gemm/sm90/grouped_gemm_bf16.h"
#include "gemm/sm90/scale_rows.h"

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

GroupedGemmProblem grouped_problem(const ExpertRows& rows, int64_t n, int64_t k, const void* a,
                                   const void* b, void* d) {
  GroupedGemmProblem problem;
  problem.num_groups = rows.num_experts;
  problem.n = n;
  problem.k = k;
  problem.rows = rows.layout;
  problem.offsets = rows.offsets;
  problem.counts = rows.counts;
  problem.capacity = rows.capacity;
  problem.a = a;
  problem.b = b;
  problem.d = d;
  return problem;
}

}  // namespace

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

std::string bf16_weights_unsupported_reason(const ExpertWeights& weights) {
  if (weights.w13_bias.defined() || weights.w2_bias.defined()) {
    return "expert biases (w13_bias / w2_bias) on the sm90 bf16 path are not in this build yet; "
           "the CPU reference supports them";
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
  const std::string weights_reason = bf16_weights_unsupported_reason(weights);
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

  grouped_gemm_bf16(grouped_problem(call.rows, n1, hidden, call.x, weights.w13.data, gemm1_out),
                    gemm_workspace, gemm_workspace_bytes, stream);

  ExpertActivationParams activation;
  activation.rows = call.rows;
  activation.h = gemm1_out;
  activation.h_row_stride = n1;
  activation.a = activation_out;
  activation.intermediate_size = inter;
  activation.gated = activation_is_gated(moe.activation);
  activation.layout = moe.gate_up_layout;
  activation.activation = moe.activation;
  activation.alpha = moe.activation_params.alpha;
  activation.beta = moe.activation_params.beta;
  activation.clamp_limit = moe.activation_params.clamp_limit;
  launch_expert_activation(activation, stream);

  grouped_gemm_bf16(grouped_problem(call.rows, hidden, inter, activation_out, weights.w2.data, call.out),
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
