// fusedmoe configuration: plain structs with documented defaults, enums for every mode.
//
// Conventions (docs/CONTRACTS.md has the long form):
//  * Expert ids are global, in [0, num_experts). A rank owns the local range
//    [local_expert_offset, local_expert_offset + num_local_experts); ids outside it and -1 add
//    nothing and never fault. Duplicated ids in one token's row are legal (each slot counts).
//  * routed_scaling_factor is applied exactly once, in combine, to routed experts only. Fused
//    routing never folds it into the top-k weights it returns.
#pragma once

#include <cstdint>
#include <limits>

namespace fusedmoe {

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------
enum class RoutingMethod : int32_t {
  // p = softmax(logits) over all experts; top-k of p; weights = p (or p / sum_k p when
  // renormalize). Qwen3-MoE (norm_topk_prob), Mixtral (renormalize = true).
  kSoftmaxTopK = 0,
  // top-k of the logits, then softmax over the k selected ("Renormalize"): gpt-oss, Mixtral.
  kTopKSoftmax = 1,
  // s = sigmoid(logits); choose with s + correction_bias; with n_group > 1, keep the topk_group
  // groups whose top-2 biased scores sum highest; weights = s (no bias), renormalized by
  // (sum + 1e-20) when renormalize. DeepSeek-V3/R1, Kimi-K2, GLM-4.5; n_group = 1: MiniMax-M2,
  // Nemotron-H.
  kSigmoidGroupedTopK = 2,
  // Llama-4: top-1 of the logits, weight = sigmoid(logit), applied to the expert's input.
  kLlama4Top1Sigmoid = 3,
  // s = sigmoid(logits); top-k of s; weights = s (or s / (sum + 1e-20) when renormalize).
  kSigmoidTopK = 4,
};

const char* routing_method_name(RoutingMethod method);

enum class LogitsDType : int32_t { kFloat32 = 0, kBFloat16 = 1 };

struct RoutingConfig {
  RoutingMethod method = RoutingMethod::kSoftmaxTopK;
  // Renormalize the top-k weights so they sum to 1 (norm_topk_prob). kTopKSoftmax always sums to 1.
  bool renormalize = true;
  // Grouped top-k (kSigmoidGroupedTopK only): experts split into n_group equal groups, the best
  // topk_group groups are kept. n_group = 1 means no grouping.
  int32_t n_group = 1;
  int32_t topk_group = 1;
  // Applied exactly once, in combine, to the routed experts' sum. Never folded into the weights
  // that routing returns.
  float routed_scaling_factor = 1.0f;
};

// ---------------------------------------------------------------------------------------------
// Experts
// ---------------------------------------------------------------------------------------------
enum class Activation : int32_t {
  kSwiGLU = 0,       // gated: silu(gate) * up
  kSwiGLUOAI = 1,    // gated, gpt-oss: gate' = min(gate, limit), up' = clamp(up, -limit, limit),
                     //   (up' + beta) * gate' * sigmoid(alpha * gate')
  kGeGLUTanh = 2,    // gated: gelu_tanh(gate) * up
  kReLU2 = 3,        // non-gated: relu(x)^2 (Nemotron-H)
  kSiLU = 4,         // non-gated: silu(x)
  kGeLUTanh = 5,     // non-gated: gelu_tanh(x)
};

bool activation_is_gated(Activation activation);
const char* activation_name(Activation activation);

struct ActivationParams {
  float alpha = 1.702f;  // kSwiGLUOAI sigmoid slope
  float beta = 1.0f;     // kSwiGLUOAI offset added to up
  // kSwiGLUOAI clamp limit (gpt-oss: 7.0); also accepted by kSwiGLU / kGeGLUTanh where it clamps
  // the same way. +inf disables clamping.
  float clamp_limit = std::numeric_limits<float>::infinity();
};

// Row order of the gated w13 [E, 2I, H] as it comes from the checkpoint.
enum class GateUpLayout : int32_t {
  kGateThenUp = 0,   // rows [0, I) gate, [I, 2I) up (HF, vLLM w13 = [w1; w3])
  kUpThenGate = 1,   // rows [0, I) up, [I, 2I) gate (FlashInfer / TRT-LLM [w3; w1])
  kInterleaved = 2,  // row 2i gate, row 2i+1 up (gpt-oss checkpoints)
};

enum class WeightFormat : int32_t {
  kBF16 = 0,          // bf16 weights
  kFP8PerTensor = 1,  // e4m3 weights, one fp32 scale per expert and matrix
  kFP8Block128 = 2,   // e4m3 weights, fp32 or ue8m0 scale per 128x128 block (DeepSeek-V3)
  kMXFP4 = 3,         // packed e2m1, one ue8m0 scale per 32 values along K (gpt-oss)
  kNVFP4 = 4,         // packed e2m1, one e4m3 scale per 16 values along K, fp32 global per expert
};

const char* weight_format_name(WeightFormat format);

// How activations entering each GEMM are quantized.
enum class ActivationQuant : int32_t {
  kNone = 0,             // activations stay bf16/fp16 (BF16 weights; W4A16)
  kFP8PerTensor = 1,     // e4m3 with one static fp32 scale per GEMM input (a1_scale, a2_scale)
  kFP8PerToken = 2,      // e4m3 with a dynamic fp32 scale per token row
  kFP8Group128 = 3,      // e4m3 with a dynamic scale per 1x128 group along K (DeepSeek-V3)
};

const char* activation_quant_name(ActivationQuant quant);

// How the scale of a dynamically quantized FP8 group (or a block-scaled weight) is stored.
enum class ScaleFormat : int32_t {
  kFloat32 = 0,  // any positive fp32 scale: amax / 448
  kUE8M0 = 1,    // power of two, rounded up: 2^ceil(log2(amax / 448)) (DeepSeek-V3.1+, V4)
};

// Where the router weight multiplies.
enum class RouterWeightApply : int32_t {
  kOnOutput = 0,  // out[t] = sum_slot w * expert(x[t])                         (default)
  kOnInput = 1,   // out[t] = expert(w * x[t]) (Llama-4; top_k must be 1)
};

struct MoeConfig {
  int32_t hidden_size = 0;        // H
  int32_t intermediate_size = 0;  // I, one expert (after TP slicing)
  int32_t num_experts = 0;        // E, global routed experts
  int32_t top_k = 0;              // slots per token, 1..32
  // Expert parallelism: this rank computes experts [local_expert_offset,
  // local_expert_offset + num_local_experts). num_local_experts = 0 means "all": E - offset.
  int32_t local_expert_offset = 0;
  int32_t num_local_experts = 0;

  Activation activation = Activation::kSwiGLU;
  ActivationParams activation_params{};
  GateUpLayout gate_up_layout = GateUpLayout::kGateThenUp;

  WeightFormat weight_format = WeightFormat::kBF16;
  ActivationQuant activation_quant = ActivationQuant::kNone;
  ScaleFormat activation_scale_format = ScaleFormat::kFloat32;  // for dynamic FP8 activations

  RouterWeightApply router_weight_apply = RouterWeightApply::kOnOutput;

  int32_t local_experts() const {
    return num_local_experts > 0 ? num_local_experts : num_experts - local_expert_offset;
  }
};

// Limits of the library (checked by validation, reported by the capability query).
constexpr int32_t kMaxTopK = 32;
constexpr int32_t kMaxExperts = 1024;

}  // namespace fusedmoe
