// BF16 expert compute: the sequence of launches behind bf16_experts.h.
#include "gemm/sm90/bf16_experts.h"

#include <string>

#include "core/check.h"
#include "gemm/sm90/expert_activation.h"
#include "gemm/sm90/grouped_gemm_bf16.h"
#include "gemm/sm90/scale_rows.h"

namespace fusedmoe::sm90 {
namespace {

constexpr size_t kAlignment = 256;
size_t align_up(size_t value) { return (value + kAlignment - 1) / kAlignment * kAlignment; }

int64_t gemm1_columns(const MoeConfig& moe) {
  return activation_is_gated(moe.activation) ? 2LL * moe.intermediate_size : moe.intermediate_size;
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
  const size_t rows = static_cast<size_t>(max_rows);
  const size_t gemm1_bytes = rows * static_cast<size_t>(gemm1_columns(moe)) * 2;
  const size_t activation_bytes = rows * static_cast<size_t>(moe.intermediate_size) * 2;
  return align_up(gemm1_bytes) + align_up(activation_bytes) +
         align_up(grouped_gemm_bf16_workspace_bytes(moe.local_experts()));
}

void run_bf16_experts(const MoeConfig& moe, const ExpertWeights& weights, const Bf16ExpertsCall& call,
                      void* workspace, size_t workspace_bytes, Stream stream) {
  const std::string reason = bf16_experts_unsupported_reason(moe);
  if (!reason.empty()) detail::throw_unsupported(reason);
  const std::string weights_reason = bf16_weights_unsupported_reason(weights);
  if (!weights_reason.empty()) detail::throw_unsupported(weights_reason);
  const size_t needed = bf16_experts_workspace_bytes(moe, call.rows.max_rows);
  if (workspace_bytes < needed) {
    detail::throw_invalid("workspace", "at least " + std::to_string(needed) + " bytes",
                          std::to_string(workspace_bytes) + " bytes");
  }
  if (call.rows.max_rows == 0) return;

  const int64_t hidden = moe.hidden_size;
  const int64_t inter = moe.intermediate_size;
  const int64_t n1 = gemm1_columns(moe);
  const size_t rows = static_cast<size_t>(call.rows.max_rows);
  char* cursor = static_cast<char*>(workspace);
  void* gemm1_out = cursor;
  cursor += align_up(rows * static_cast<size_t>(n1) * 2);
  void* activation_out = cursor;
  cursor += align_up(rows * static_cast<size_t>(inter) * 2);
  void* gemm_workspace = cursor;
  const size_t gemm_workspace_bytes = grouped_gemm_bf16_workspace_bytes(moe.local_experts());

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
