#include "common/presets.h"

#include <sstream>

#include "common/tool_error.h"

namespace fusedmoe::tools {

namespace {

RoutingConfig softmax_topk_renorm() {
  RoutingConfig routing;
  routing.method = RoutingMethod::kSoftmaxTopK;
  routing.renormalize = true;
  return routing;
}

RoutingConfig topk_then_softmax() {
  RoutingConfig routing;
  routing.method = RoutingMethod::kTopKSoftmax;
  routing.renormalize = true;  // softmax over the k always sums to 1
  return routing;
}

RoutingConfig sigmoid_biased(int32_t n_group, int32_t topk_group, float routed_scaling_factor) {
  RoutingConfig routing;
  routing.method = RoutingMethod::kSigmoidGroupedTopK;
  routing.renormalize = true;
  routing.n_group = n_group;
  routing.topk_group = topk_group;
  routing.routed_scaling_factor = routed_scaling_factor;
  return routing;
}

RoutingConfig llama4_top1() {
  RoutingConfig routing;
  routing.method = RoutingMethod::kLlama4Top1Sigmoid;
  routing.renormalize = false;  // one expert, weight = sigmoid(logit)
  return routing;
}

std::vector<ModelPreset> build_presets() {
  std::vector<ModelPreset> presets;

  ModelPreset deepseek;
  deepseek.name = "deepseek-v3";
  deepseek.hidden_size = 7168;
  deepseek.intermediate_size = 2048;
  deepseek.num_experts = 256;
  deepseek.top_k = 8;
  deepseek.routing = sigmoid_biased(8, 4, 2.5f);
  deepseek.correction_bias = true;
  deepseek.shared_expert = "1 shared expert, I=2048";
  deepseek.source = "DeepSeek-V3 inference/configs/config_671B.json, HF DeepseekV3Config";
  presets.push_back(deepseek);

  ModelPreset qwen30b;
  qwen30b.name = "qwen3-30b-a3b";
  qwen30b.hidden_size = 2048;
  qwen30b.intermediate_size = 768;
  qwen30b.num_experts = 128;
  qwen30b.top_k = 8;
  qwen30b.routing = softmax_topk_renorm();
  qwen30b.shared_expert = "none";
  qwen30b.source = "Qwen3-30B-A3B config.json (norm_topk_prob true)";
  presets.push_back(qwen30b);

  ModelPreset qwen235b;
  qwen235b.name = "qwen3-235b-a22b";
  qwen235b.hidden_size = 4096;
  qwen235b.intermediate_size = 1536;
  qwen235b.num_experts = 128;
  qwen235b.top_k = 8;
  qwen235b.routing = softmax_topk_renorm();
  qwen235b.shared_expert = "none";
  qwen235b.source = "Qwen3-235B-A22B config.json; FlashInfer SM90 MoE doc";
  presets.push_back(qwen235b);

  ModelPreset mixtral;
  mixtral.name = "mixtral-8x7b";
  mixtral.hidden_size = 4096;
  mixtral.intermediate_size = 14336;
  mixtral.num_experts = 8;
  mixtral.top_k = 2;
  mixtral.routing = topk_then_softmax();
  mixtral.shared_expert = "none";
  mixtral.source = "Mixtral-8x7B config; SGLang tuned-config README (N=14336)";
  presets.push_back(mixtral);

  ModelPreset minimax;
  minimax.name = "minimax-m2";
  minimax.hidden_size = 3072;
  minimax.intermediate_size = 1536;
  minimax.num_experts = 256;
  minimax.top_k = 8;
  minimax.routing = sigmoid_biased(1, 1, 1.0f);
  minimax.correction_bias = true;
  minimax.shared_expert = "none";
  minimax.source = "MiniMax-M2 config.json (use_routing_bias, FP8 block 128x128)";
  presets.push_back(minimax);

  ModelPreset gpt_oss;
  gpt_oss.name = "gpt-oss-120b";
  gpt_oss.hidden_size = 2880;
  gpt_oss.intermediate_size = 2880;
  gpt_oss.num_experts = 128;
  gpt_oss.top_k = 4;
  gpt_oss.routing = topk_then_softmax();
  gpt_oss.activation = Activation::kSwiGLUOAI;
  gpt_oss.activation_params.alpha = 1.702f;
  gpt_oss.activation_params.beta = 1.0f;
  gpt_oss.activation_params.clamp_limit = 7.0f;
  gpt_oss.gate_up_layout = GateUpLayout::kInterleaved;
  gpt_oss.logits_bias = true;
  gpt_oss.expert_biases = true;
  gpt_oss.shared_expert = "none";
  gpt_oss.source = "openai/gpt-oss gpt_oss/torch/model.py ModelConfig (MXFP4 experts)";
  presets.push_back(gpt_oss);

  ModelPreset nemotron;
  nemotron.name = "nemotron-3-nano";
  nemotron.hidden_size = 2688;
  nemotron.intermediate_size = 1856;
  nemotron.num_experts = 128;
  nemotron.top_k = 6;
  nemotron.routing = sigmoid_biased(1, 1, 2.5f);
  nemotron.activation = Activation::kReLU2;
  nemotron.correction_bias = true;
  nemotron.shared_expert = "1 shared expert, I=3712";
  nemotron.source = "Nemotron-3-Nano-30B-A3B config.json (mlp_hidden_act relu2)";
  presets.push_back(nemotron);

  ModelPreset llama4;
  llama4.name = "llama-4-scout";
  llama4.hidden_size = 5120;
  llama4.intermediate_size = 8192;
  llama4.num_experts = 16;
  llama4.top_k = 1;
  llama4.routing = llama4_top1();
  llama4.router_weight_apply = RouterWeightApply::kOnInput;
  llama4.shared_expert = "1 shared expert, I=8192";
  llama4.source = "Llama-4-Scout config.json (MoE in every layer)";
  presets.push_back(llama4);

  // GLM-4.5 routes like DeepSeek-V3 but with n_group 1 (api_anchors.md §1). The Air model's
  // routed_scaling_factor is 1.0: its config sets 1.0, and slime's Megatron arguments for
  // GLM-4.5-106B-A12B set no scaling factor while the 355B ones set 2.5.
  ModelPreset glm_air;
  glm_air.name = "glm-4.5-air";
  glm_air.hidden_size = 4096;
  glm_air.intermediate_size = 1408;
  glm_air.num_experts = 128;
  glm_air.top_k = 8;
  glm_air.routing = sigmoid_biased(1, 1, 1.0f);
  glm_air.correction_bias = true;
  glm_air.shared_expert = "1 shared expert, I=1408";
  glm_air.source = "GLM-4.5-Air config.json (glm4_moe); slime glm4.5-106B-A12B args";
  presets.push_back(glm_air);

  return presets;
}

std::string format_float(float value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

}  // namespace

const std::vector<ModelPreset>& model_presets() {
  static const std::vector<ModelPreset> presets = build_presets();
  return presets;
}

const ModelPreset& find_preset(const std::string& name) {
  for (const ModelPreset& preset : model_presets()) {
    if (preset.name == name) return preset;
  }
  std::string known;
  for (const ModelPreset& preset : model_presets()) {
    known += (known.empty() ? "" : ", ") + preset.name;
  }
  throw UsageError("unknown model '" + name + "'; known: " + known);
}

std::string routing_summary(const ModelPreset& preset) {
  const RoutingConfig& routing = preset.routing;
  std::string text;
  switch (routing.method) {
    case RoutingMethod::kSoftmaxTopK: text = "softmax->top-k"; break;
    case RoutingMethod::kTopKSoftmax: text = "top-k->softmax"; break;
    case RoutingMethod::kSigmoidGroupedTopK: text = "sigmoid+bias"; break;
    case RoutingMethod::kLlama4Top1Sigmoid: text = "top-1 sigmoid on input"; break;
    case RoutingMethod::kSigmoidTopK: text = "sigmoid->top-k"; break;
  }
  if (preset.logits_bias) text += ", router bias";
  if (routing.method == RoutingMethod::kSigmoidGroupedTopK && routing.n_group > 1) {
    text += ", groups " + std::to_string(routing.n_group) + "/" + std::to_string(routing.topk_group);
  }
  const bool renorm_matters = routing.method == RoutingMethod::kSoftmaxTopK ||
                              routing.method == RoutingMethod::kSigmoidGroupedTopK ||
                              routing.method == RoutingMethod::kSigmoidTopK;
  if (renorm_matters && routing.renormalize) text += ", renorm";
  if (routing.routed_scaling_factor != 1.0f) {
    text += ", rsf " + format_float(routing.routed_scaling_factor);
  }
  return text;
}

std::string activation_summary(const ModelPreset& preset) {
  std::string text = activation_name(preset.activation);
  if (preset.activation == Activation::kSwiGLUOAI) {
    text += " a=" + format_float(preset.activation_params.alpha) +
            " limit=" + format_float(preset.activation_params.clamp_limit);
  }
  if (!activation_is_gated(preset.activation)) text += " (non-gated)";
  if (preset.gate_up_layout == GateUpLayout::kInterleaved) text += " interleaved";
  if (preset.expert_biases) text += " +biases";
  return text;
}

LayerSpec slice_preset(const ModelPreset& preset, const Parallelism& parallelism) {
  if (parallelism.tp < 1) {
    throw UsageError("--tp " + std::to_string(parallelism.tp) + ": expected a positive integer");
  }
  if (preset.intermediate_size % parallelism.tp != 0) {
    throw UsageError("--tp " + std::to_string(parallelism.tp) + ": the expert intermediate size " +
                     std::to_string(preset.intermediate_size) + " of " + preset.name +
                     " is not divisible by " + std::to_string(parallelism.tp));
  }
  if (parallelism.ep < 1) {
    throw UsageError("--ep " + std::to_string(parallelism.ep) + ": expected a positive integer");
  }
  if (preset.num_experts % parallelism.ep != 0) {
    throw UsageError("--ep " + std::to_string(parallelism.ep) + ": the " +
                     std::to_string(preset.num_experts) + " experts of " + preset.name +
                     " do not split evenly over " + std::to_string(parallelism.ep) + " ranks");
  }
  if (parallelism.ep_rank < 0 || parallelism.ep_rank >= parallelism.ep) {
    throw UsageError("--ep-rank " + std::to_string(parallelism.ep_rank) + ": expected 0.." +
                     std::to_string(parallelism.ep - 1) + " for --ep " +
                     std::to_string(parallelism.ep));
  }

  LayerSpec spec;
  spec.model = preset.name;
  spec.parallelism = parallelism;
  spec.routing = preset.routing;
  spec.correction_bias = preset.correction_bias;
  spec.logits_bias = preset.logits_bias;
  spec.expert_biases = preset.expert_biases;

  MoeConfig& moe = spec.moe;
  moe.hidden_size = preset.hidden_size;
  moe.intermediate_size = preset.intermediate_size / parallelism.tp;
  moe.num_experts = preset.num_experts;
  moe.top_k = preset.top_k;
  moe.num_local_experts = preset.num_experts / parallelism.ep;
  moe.local_expert_offset = parallelism.ep_rank * moe.num_local_experts;
  moe.activation = preset.activation;
  moe.activation_params = preset.activation_params;
  moe.gate_up_layout = preset.gate_up_layout;
  moe.router_weight_apply = preset.router_weight_apply;
  return spec;
}

}  // namespace fusedmoe::tools
